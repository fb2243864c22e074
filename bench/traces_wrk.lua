-- wrk script for bench/traces_side_by_side.sh: the same requests for Maratang and the FastAPI
-- peer. TRACES_MODE=get: GET /get-objects with Accept-Encoding: gzip. TRACES_MODE=post:
-- POST /add-object with an object, a message and a phantom of TRACES_PHANTOM_POINTS points (the
-- body bench/traces_load.cpp sends), a distinct u_uuid per request.
-- At the end prints one line: RESULT requests=N non2xx=N errors=N seconds=S p50_ms=X p99_ms=X
local mode = os.getenv("TRACES_MODE") or "get"
local points = tonumber(os.getenv("TRACES_PHANTOM_POINTS") or "50")
local threads = {}
local n = 0
local phantom_data

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  tid = tid or 1  -- set by setup() in each thread's own state
  local parts = {}
  for p = 0, points - 1 do
    parts[#parts + 1] = string.format('["%d.5,%d.25,3.0","0.0,%d.0,0.0"]', tid, p, p % 360)
  end
  phantom_data = "[" .. table.concat(parts, ",") .. "]"
  if mode == "get" then
    wrk.method = "GET"
    wrk.path = "/get-objects"
    wrk.headers["Accept-Encoding"] = "gzip"
  else
    wrk.method = "POST"
    wrk.path = "/add-object"
    wrk.headers["Content-Type"] = "application/json"
  end
end

if mode == "post" then
  function request()
    n = n + 1
    local u = string.format("bench-%d-%d", tid, n)
    local body = string.format(
      '{"obj":{"u_uuid":"%s","o_type":%d,"o_pos":"%d.5,20.0,30.2","o_rot":"0.0,90.0,0.0"},' ..
      '"message":{"u_uuid":"%s","part1":"Try jumping","part2":"but hole","part3":"ahead"},' ..
      '"phantom":{"u_uuid":"%s","data":%s}}',
      u, n % 50, n % 1000, u, u, phantom_data)
    return wrk.format(nil, nil, nil, body)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d non2xx=%d errors=%d seconds=%.3f p50_ms=%.3f p99_ms=%.3f bytes=%d\n",
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout,
    summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.bytes))
end
