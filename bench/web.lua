-- wrk script for bench/web.sh. Environment:
--   BENCH_MODE   reveal | get | healthz (default reveal)
--   BENCH_IDS    file with one record id per line (requests cycle through them)
--   BENCH_TOKEN  bearer API key
-- `done` prints one machine-readable line:
--   RESULT requests=N seconds=S rps=R p50_us=A p90_us=B p99_us=C max_us=D non2xx=E sockerr=F
local mode = os.getenv("BENCH_MODE") or "reveal"
local token = os.getenv("BENCH_TOKEN") or ""
local ids_file = os.getenv("BENCH_IDS") or ""
local body = '{"verification":"call-back","outcome":"passed","ticket":"BENCH","purpose":"read-out"}'

local ids = {}
local n = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("offset", #threads * 7919)
end

function init(args)
  for line in io.lines(ids_file) do
    if line ~= "" then
      table.insert(ids, line)
    end
  end
  if #ids == 0 then
    error("no record ids in " .. ids_file)
  end
  n = offset or 0
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  n = n + 1
  local id = ids[(n % #ids) + 1]
  if mode == "healthz" then
    return wrk.format("GET", "/healthz")
  elseif mode == "get" then
    return wrk.format("GET", "/api/v1/records/" .. id)
  end
  return wrk.format("POST", "/api/v1/records/" .. id .. "/reveal", nil, body)
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d seconds=%.2f rps=%.0f p50_us=%d p90_us=%d p99_us=%d max_us=%d non2xx=%d sockerr=%d\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.status, e.connect + e.read + e.write + e.timeout))
end
