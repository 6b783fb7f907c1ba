-- GET /books?limit=20: the first page in the default order (newest change first).
--   wrk -s bench/wrk/list_books.lua http://127.0.0.1:PORT
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
local common = dofile(here .. "common.lua")

local req

function init(args)
  req = wrk.format("GET", "/books?limit=20", common.headers())
end

function request()
  return req
end

done = common.done
