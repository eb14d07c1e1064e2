-- wrk script of `make bench`: replays the requests listed in a file, round robin per thread,
-- and prints one machine-readable summary line.
--
-- Usage: wrk ... -s bench/wrk.lua http://127.0.0.1:PORT -- requests.tsv
-- Each line of requests.tsv is: METHOD <tab> PATH?QUERY [<tab> JSON BODY]
-- Requests are built once in init(): building them per request would load the client.

local requests = {}
local index = 0
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

function init(args)
  local file = assert(io.open(args[1], "r"))
  for line in file:lines() do
    local method, path, body = line:match("^(%u+)\t([^\t]+)\t?(.*)$")
    if method then
      if body == "" then
        requests[#requests + 1] = wrk.format(method, path)
      else
        local headers = {}
        for name, value in pairs(wrk.headers) do
          headers[name] = value
        end
        headers["Content-Type"] = "application/json"
        requests[#requests + 1] = wrk.format(method, path, headers, body)
      end
    end
  end
  file:close()
  -- Threads start at different places in the list.
  index = ((thread_number or 1) * 7919) % #requests
end

function request()
  index = index % #requests + 1
  return requests[index]
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    "WRK_JSON {\"requests\": %d, \"duration_us\": %d, \"bytes\": %d, \"status_errors\": %d, " ..
    "\"connect_errors\": %d, \"read_errors\": %d, \"write_errors\": %d, \"timeouts\": %d, " ..
    "\"p50_us\": %d, \"p90_us\": %d, \"p99_us\": %d, \"mean_us\": %.1f, \"max_us\": %d}\n",
    summary.requests, summary.duration, summary.bytes, errors.status, errors.connect,
    errors.read, errors.write, errors.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.mean, latency.max))
end
