-- GET /books/{id}, each request for a book drawn at random from the loaded ones.
--   wrk -s bench/wrk/get_book.lua http://127.0.0.1:PORT -- IDS_FILE
-- IDS_FILE: one book id (UUID) a line.
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
local common = dofile(here .. "common.lua")

local thread_count = 0
function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_index", thread_count)
end

local ids, headers

function init(args)
  ids = common.read_lines(args[1])
  headers = common.headers()
  math.randomseed(os.time() * 100 + (thread_index or 0))
end

function request()
  return wrk.format("GET", "/books/" .. ids[math.random(#ids)], headers)
end

done = common.done
