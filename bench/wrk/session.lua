-- wrk script of `npm run bench` (bench/run.ts): requests one path with one method, each with
-- the next session cookie of a file (one `name=value` line per session), and `X-CSRF: 1`.
--   wrk -tT -cC -dDs -s bench/wrk/session.lua URL -- <cookie file> <GET|HEAD> <path> <T> [<body text>]
-- Each thread starts at its own offset, so concurrent requests use different sessions. Every
-- response is checked: a status outside 2xx counts as non-2xx, and with <body text> a 2xx body
-- without it counts as a bad body; answers with a Set-Cookie are counted. done() prints one line `BENCH_JSON {...}` with the figures.

local cookies = {}
local method, path, needle
local next_cookie = 0
non2xx = 0
bad_body = 0
set_cookie = 0

local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

function init(args)
  local file = args[1]
  method = args[2] or "GET"
  path = args[3] or "/session"
  local thread_count = tonumber(args[4]) or 1
  needle = args[5]
  if needle == "" then needle = nil end
  for line in io.lines(file) do
    if line ~= "" then cookies[#cookies + 1] = line end
  end
  if #cookies == 0 then error("no cookies in " .. file) end
  -- thread_index is set by setup() before init() runs.
  next_cookie = math.floor((thread_index or 0) * #cookies / thread_count) % #cookies
end

function request()
  next_cookie = next_cookie + 1
  if next_cookie > #cookies then next_cookie = 1 end
  return wrk.format(method, path, { ["Cookie"] = cookies[next_cookie], ["X-CSRF"] = "1" })
end

function response(status, headers, body)
  -- A new session cookie: the gateway rolled the idle expiry (a store write and a signature).
  if headers["Set-Cookie"] or headers["set-cookie"] then set_cookie = set_cookie + 1 end
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  elseif needle and not string.find(body, needle, 1, true) then
    bad_body = bad_body + 1
  end
end

function done(summary, latency, requests)
  local n2, bad, cookies = 0, 0, 0
  for _, thread in ipairs(threads) do
    n2 = n2 + (thread:get("non2xx") or 0)
    bad = bad + (thread:get("bad_body") or 0)
    cookies = cookies + (thread:get("set_cookie") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"durationUs":%d,"bytes":%d,"connectErrors":%d,"readErrors":%d,' ..
    '"writeErrors":%d,"timeouts":%d,"statusErrors":%d,"non2xx":%d,"badBody":%d,"setCookie":%d,' ..
    '"p50Us":%d,"p90Us":%d,"p99Us":%d,"maxUs":%d,"meanUs":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.timeout,
    e.status, n2, bad, cookies, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
