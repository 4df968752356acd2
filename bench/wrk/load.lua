-- wrk script of the API benchmark (bench/api_load.py). Environment:
--   BENCH_MODE    "submit" (POST /api/v1/submissions, one new learner per request) or "get" (the URL as given)
--   BENCH_KEY     the tenant's API key (submit)
--   BENCH_REPO    the repository URL every learner submits (submit)
--   BENCH_PREFIX  makes learners unique across runs (submit)
--   BENCH_OUT     where done() writes its JSON: counts, latency percentiles, accepted submission ids
local mode = os.getenv("BENCH_MODE") or "get"
local threads = {}
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("tid", next_id)
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  ids = {}
  statuses = {}
  prefix = (os.getenv("BENCH_PREFIX") or "load") .. "-" .. tostring(tid)
  repo = os.getenv("BENCH_REPO") or ""
  submit_headers = {
    ["Authorization"] = "Bearer " .. (os.getenv("BENCH_KEY") or ""),
    ["Content-Type"] = "application/json",
  }
end

function request()
  if mode ~= "submit" then
    return wrk.format("GET", nil)
  end
  counter = counter + 1
  local body = string.format(
    '{"assignment":"py-ten","learner":"%s-%d@example.org","repo_url":"%s"}', prefix, counter, repo)
  return wrk.format("POST", "/api/v1/submissions", submit_headers, body)
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  if mode == "submit" and status == 201 then
    local id = string.match(body, '"id"%s*:%s*"([^"]+)"')
    if id then
      ids[#ids + 1] = id
    end
  end
end

local function json_list(items)
  local quoted = {}
  for i, item in ipairs(items) do
    quoted[i] = '"' .. item .. '"'
  end
  return "[" .. table.concat(quoted, ",") .. "]"
end

function done(summary, latency, requests)
  local all_ids, all_statuses = {}, {}
  for _, thread in ipairs(threads) do
    for _, id in ipairs(thread:get("ids") or {}) do
      all_ids[#all_ids + 1] = id
    end
    for status, count in pairs(thread:get("statuses") or {}) do
      all_statuses[status] = (all_statuses[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(all_statuses) do
    parts[#parts + 1] = string.format('"%s":%d', status, count)
  end
  local e = summary.errors
  local out = io.open(os.getenv("BENCH_OUT"), "w")
  out:write(string.format(
    '{"requests":%d,"duration_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d},"statuses":{%s},"accepted_ids":%s}',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    table.concat(parts, ","), json_list(all_ids)))
  out:close()
end
