-- wrk script: cycle through the entity paths given in the WRK_PATHS_FILE file (one per line), and print latency
-- percentiles (ms) and req/s as one JSON line at the end.
local paths = {}
local i = 0
function init(args)
  for line in io.lines(os.getenv("WRK_PATHS_FILE")) do paths[#paths + 1] = line end
  i = math.random(#paths)
end
function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
function done(summary, latency, requests)
  io.write(string.format('{"rps":%f,"total":%d,"non2xx":%d,"errors":%d,"p50":%f,"p90":%f,"p95":%f,"p99":%f,"max":%f}\n',
    summary.requests / (summary.duration / 1e6), summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
