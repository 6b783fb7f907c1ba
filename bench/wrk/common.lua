-- Shared by the wrk scripts: reading input files, and the machine-readable summary line that
-- bench/run parses (one line starting with BENCH_WRK, latencies in milliseconds).

local common = {}

function common.read_lines(path)
  local lines = {}
  local file = assert(io.open(path, "r"), "cannot open " .. tostring(path))
  for line in file:lines() do
    if #line > 0 then
      lines[#lines + 1] = line
    end
  end
  file:close()
  assert(#lines > 0, path .. " is empty")
  return lines
end

-- Headers of every request: v1 JSON, and the bearer token bench/run signed in for
-- (environment variable BENCH_TOKEN).
function common.headers(extra)
  local headers = { ["Accept"] = "application/json" }
  local token = os.getenv("BENCH_TOKEN")
  if token and #token > 0 then
    headers["Authorization"] = "Bearer " .. token
  end
  for k, v in pairs(extra or {}) do
    headers[k] = v
  end
  return headers
end

function common.done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "BENCH_WRK requests=%d seconds=%.3f rps=%.1f mean_ms=%.3f p50_ms=%.3f p90_ms=%.3f "
      .. "p99_ms=%.3f max_ms=%.3f err_connect=%d err_read=%d err_write=%d err_status=%d "
      .. "err_timeout=%d\n",
    summary.requests, seconds, summary.requests / seconds, latency.mean / 1000,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    e.connect, e.read, e.write, e.status, e.timeout))
end

return common
