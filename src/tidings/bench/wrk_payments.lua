-- wrk script for `tidings bench ledger`: POST payments spread over several wallets.
--
-- Reads TIDINGS_BENCH_WALLETS (comma-separated wallet ids), TIDINGS_BENCH_ADMIN_KEY and
-- TIDINGS_BENCH_AMOUNT (minor units) from the environment, and prints one line
-- `TIDINGS_WRK {json}` at the end for the Python side to parse.

local wallets = {}
for id in string.gmatch(os.getenv("TIDINGS_BENCH_WALLETS") or "", "[^,]+") do
  table.insert(wallets, id)
end
local amount = tonumber(os.getenv("TIDINGS_BENCH_AMOUNT") or "1280")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("TIDINGS_BENCH_ADMIN_KEY") or "")

local started = 0
local threads = {}
function setup(thread)
  -- Threads start at different wallets so concurrent requests rarely wait on one row lock.
  thread:set("offset", started * math.floor(#wallets / 2))
  started = started + 1
  table.insert(threads, thread)
end

held = 0
function response(status)
  -- 202: the risk engine held the payment for a one-time code (not a completed payment).
  if status == 202 then
    held = held + 1
  end
end

local counter = 0
function request()
  counter = counter + 1
  local wallet = wallets[((counter + (offset or 0)) % #wallets) + 1]
  local body = string.format(
    '{"kind":"payment","source":"%s","amount":{"value":%d,"currency":"CNY"},'
      .. '"merchant":{"name":"Bench Coffee","category":"5814"}}',
    wallet,
    amount
  )
  return wrk.format(nil, "/v1/transfers", nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  local held_total = 0
  for _, thread in ipairs(threads) do
    held_total = held_total + (thread:get("held") or 0)
  end
  io.write(string.format(
    'TIDINGS_WRK {"requests": %.0f, "duration_us": %.0f, "non2xx": %.0f, "held": %.0f, '
      .. '"socket_errors": %.0f, "p50_us": %.0f, "p99_us": %.0f, "max_us": %.0f}\n',
    summary.requests,
    summary.duration,
    e.status,
    held_total,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50),
    latency:percentile(99),
    latency.max
  ))
end
