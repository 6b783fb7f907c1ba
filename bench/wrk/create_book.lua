-- POST /books: a new book with a unique, valid ISBN-13, two existing authors and one existing
-- genre by name (matched by the service, as a shop's data entry would), price and stock.
--   wrk -s bench/wrk/create_book.lua http://127.0.0.1:PORT -- AUTHORS_FILE GENRES_FILE SLOT_BASE
-- AUTHORS_FILE, GENRES_FILE: one name a line. SLOT_BASE: a number below 50 that no other run
-- against the same database used; thread t uses ISBN slot SLOT_BASE + t - 1. ISBNs are
-- 979 + slot (2 digits) + a 7-digit per-thread counter + check digit: disjoint from the loaded
-- 978 books and from pgbench's, which start at 9795.
local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
local common = dofile(here .. "common.lua")

local thread_count = 0
function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_index", thread_count)
end

local authors, genres, headers, slot
local counter = 0

local adjectives = { "Silent", "Hidden", "Last", "Broken", "Golden", "Forgotten", "Burning",
  "Secret", "Distant", "Quiet", "Crimson", "Endless", "Fallen", "Frozen", "Midnight", "Wild" }
local nouns = { "River", "Garden", "House", "Mountain", "Kingdom", "Letter", "Island", "Shadow",
  "Daughter", "Empire", "Mirror", "Forest", "Storm", "Orchard", "Harbour", "Lighthouse" }
local publishers = { "Faber & Faber", "Bloomsbury", "Vintage", "Picador", "Canongate", "Granta",
  "HarperCollins", "Macmillan" }
local formats = { "paperback", "paperback", "hardcover", "ebook", "audiobook" }
local languages = { "en", "en", "en", "de", "fr", "es" }

local function pick(list)
  return list[math.random(#list)]
end

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return string.format("\\u%04x", c:byte())
  end) .. '"'
end

local function next_isbn()
  counter = counter + 1
  assert(counter < 1e7, "ISBN counter exhausted for this thread")
  local first12 = string.format("979%02d%07d", slot, counter)
  local sum = 0
  for i = 1, 12 do
    local d = first12:byte(i) - 48
    sum = sum + ((i % 2 == 1) and d or 3 * d)
  end
  return first12 .. tostring((10 - sum % 10) % 10)
end

function init(args)
  authors = common.read_lines(args[1])
  genres = common.read_lines(args[2])
  slot = tonumber(args[3]) + (thread_index or 1) - 1
  assert(slot >= 0 and slot < 50, "ISBN slot out of range: " .. tostring(slot))
  headers = common.headers({ ["Content-Type"] = "application/json" })
  math.randomseed(os.time() * 100 + slot)
end

function request()
  local a1 = math.random(#authors)
  local a2 = (a1 - 1 + math.random(#authors - 1)) % #authors + 1 -- any other author
  local body = string.format(
    '{"isbn":"%s","title":%s,"authors":[%s,%s],"genres":[%s],"publisher":%s,'
      .. '"published_year":%d,"language":"%s","format":"%s","page_count":%d,'
      .. '"price":{"amount_minor":%d,"currency":"EUR"},"quantity":%d,"reorder_point":%d,'
      .. '"location":"%s-%02d-%d"}',
    next_isbn(),
    json_string("The " .. pick(adjectives) .. " " .. pick(nouns)),
    json_string(authors[a1]), json_string(authors[a2]), json_string(pick(genres)),
    json_string(pick(publishers)), math.random(1950, 2024), pick(languages), pick(formats),
    math.random(80, 899), math.random(4, 49) * 100 + 99, math.random(1, 199),
    math.random(0, 9), string.char(64 + math.random(12)), math.random(1, 40), math.random(1, 6))
  return wrk.format("POST", "/books", headers, body)
end

done = common.done
