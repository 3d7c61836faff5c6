-- wrk script: POSTs the bodies of $BENCH_BODIES (one JSON body per line) in turn to $BENCH_PATH,
-- optionally pausing $BENCH_DELAY_MS between requests on each connection (a lighter, steady load),
-- and prints one machine-readable summary line.
local bodies = {}
for line in io.lines(os.getenv("BENCH_BODIES")) do bodies[#bodies + 1] = line end
local path = os.getenv("BENCH_PATH")
local headers = {["Content-Type"] = "application/json"}
local counter = 0

function setup(thread)
  thread:set("offset", math.random(#bodies))
end

function init(args)
  counter = offset or 0
end

function request()
  counter = counter % #bodies + 1
  return wrk.format("POST", path, headers, bodies[counter])
end

local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
if delay_ms > 0 then
  function delay() return delay_ms end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "non2xx": %d, "socket_errors": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
