-- wrk script for the ingest benchmarks. One script, two targets, chosen by the
-- environment variable TARGET:
--   TARGET=escalator     POST /v2/enqueue, an Events API v2 trigger with a
--                        dedup key unique to this run, thread and request
--                        (ROUTING_KEY must be set); success is 202.
--   TARGET=alertmanager  POST /api/v2/alerts, one alert whose `instance` label
--                        is unique in the same way; success is 200.
-- RUN_ID (optional) makes keys unique across runs against one database.
--
-- Every thread counts the requests it generated (`sent`), the answers that
-- were a success (`ok`) and the other answers (`bad`); done() sums them and
-- prints one machine-readable line starting with "BENCH ".

local threads = {}
local next_id = 1

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

function init(args)
   sent, ok, bad = 0, 0, 0
   target = os.getenv("TARGET") or "escalator"
   run = os.getenv("RUN_ID") or "run"
   routing_key = os.getenv("ROUTING_KEY") or ""
   if target == "escalator" then
      path, want = "/v2/enqueue", 202
      fmt = '{"routing_key":"' .. routing_key .. '","event_action":"trigger","dedup_key":"%s",'
         .. '"payload":{"summary":"bench event %d","source":"wrk","severity":"critical"}}'
   else
      path, want = "/api/v2/alerts", 200
      fmt = '[{"labels":{"alertname":"bench","instance":"%s"},"annotations":{"summary":"s %d"}}]'
   end
   wrk.headers["Content-Type"] = "application/json"
end

function request()
   sent = sent + 1
   local key = string.format("%s-t%d-%d", run, id, sent)
   return wrk.format("POST", path, nil, string.format(fmt, key, sent))
end

function response(status, headers, body)
   if status == want then
      ok = ok + 1
   else
      bad = bad + 1
   end
end

function done(summary, latency, requests)
   local s, o, b = 0, 0, 0
   for _, t in ipairs(threads) do
      s = s + t:get("sent")
      o = o + t:get("ok")
      b = b + t:get("bad")
   end
   local e = summary.errors
   local secs = summary.duration / 1e6
   io.write(string.format(
      "BENCH sent=%d ok=%d bad=%d completed=%d seconds=%.3f rps=%.1f ok_rps=%.1f "
         .. "p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f "
         .. "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
      s, o, b, summary.requests, secs, summary.requests / secs, o / secs,
      latency:percentile(50) / 1000, latency:percentile(90) / 1000,
      latency:percentile(99) / 1000, latency.max / 1000,
      e.connect, e.read, e.write, e.status, e.timeout))
end
