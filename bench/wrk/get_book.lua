-- GET /books/{id}, each request for a book drawn at random from the loaded ones.
--   wrk -s bench/wrk/get_book.lua http://127.0.0.1:PORT -- IDS_FILE
-- IDS_FILE: one book id (UUID) a line.
--
-- The requests are formatted once, in init(), when there are at most PREFORMAT ids (a hot
-- set): wrk.format per request costs the client CPU that, on a two-core machine, the server
-- under test would otherwise have. Larger id files are formatted per request.
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
local common = dofile(here .. "common.lua")

local PREFORMAT = 20000

local thread_count = 0
function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_index", thread_count)
end

local ids, headers, formatted

function init(args)
  ids = common.read_lines(args[1])
  headers = common.headers()
  math.randomseed(os.time() * 100 + (thread_index or 0))
  if #ids <= PREFORMAT then
    formatted = {}
    for i, id in ipairs(ids) do
      formatted[i] = wrk.format("GET", "/books/" .. id, headers)
    end
  end
end

function request()
  if formatted then
    return formatted[math.random(#formatted)]
  end
  return wrk.format("GET", "/books/" .. ids[math.random(#ids)], headers)
end

done = common.done
