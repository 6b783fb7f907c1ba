-- wrk script of bench/search: each request GETs a path picked at random from the file named
-- by BENCH_PATHS (one path per line); done() prints one line
--   RESULT <requests/s> <p50 ms> <p95 ms> <p99 ms> <errors>
-- where errors counts socket errors and non-2xx answers.
local paths = {}

function init(args)
    local file = assert(io.open(os.getenv("BENCH_PATHS"), "r"))
    for line in file:lines() do
        if #line > 0 then
            paths[#paths + 1] = line
        end
    end
    file:close()
    math.randomseed(os.time() + math.floor(os.clock() * 1000000))
end

local headers = { ["Authorization"] = "Bearer " .. (os.getenv("BENCH_TOKEN") or "") }

function request()
    return wrk.format("GET", paths[math.random(#paths)], headers)
end

function done(summary, latency, requests)
    local errors = summary.errors.connect + summary.errors.read + summary.errors.write
        + summary.errors.status + summary.errors.timeout
    io.write(string.format("RESULT %.1f %.2f %.2f %.2f %d\n",
        summary.requests / (summary.duration / 1000000),
        latency:percentile(50) / 1000, latency:percentile(95) / 1000,
        latency:percentile(99) / 1000, errors))
end
