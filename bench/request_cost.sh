#!/usr/bin/env bash
# What one large Alertmanager request costs (issue 10): 250 alerts sharing one
# 400 KB groupKey in a single ~412 KB body, posted once to a server on a fresh
# SQLite database. Prints the server's peak RSS (VmHWM) and how much the
# database file and its WAL grew (at the largest during the request, and
# once every page has settled). See bench/README.md.
#
#   bash bench/request_cost.sh                                    # this checkout's release build
#   ESCALATOR_BIN=/other/target/release/escalator bash bench/request_cost.sh   # another build (A/B)
#
# Knobs (environment):
#   COST_ALERTS=250 COST_GROUP_KEY_KB=400   the request
#   COST_SETTLE_S=120                        how long to wait for every page to settle
#   BENCH_SKIP_BUILD=1 ESCALATOR_BIN=PATH BENCH_RESULTS=FILE BENCH_KEEP=1   as in run.sh
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
BENCH_PY="$HERE/bench.py"
BIN="${ESCALATOR_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/escalator}"
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
PG_SOCKET=${BENCH_PG_SOCKET:-/var/run/postgresql}
ALERTS=${COST_ALERTS:-250}
GROUP_KEY_KB=${COST_GROUP_KEY_KB:-400}
SETTLE_S=${COST_SETTLE_S:-120}
AM_KEY=fedcba9876543210fedcba9876543210

WORK=$(mktemp -d /tmp/escalator-cost.XXXXXX)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

[[ -n ${ESCALATOR_BIN:-} ]] || build
[[ -x $BIN ]] || die "no server binary at $BIN"

mb() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1048576}'; }
file_size() { stat -c %s "$1" 2>/dev/null || echo 0; }
db_bytes() { echo $(($(file_size "$DB_FILE") + $(file_size "$DB_FILE-wal"))); }
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

SINK_PORT=$(freeport)
start sink python3 "$HERE/sink.py" "$SINK_PORT" "$WORK/sink.stats"
wait_line "$WORK/sink.log" "sink listening" "$LAST_PID" 10

cat >"$WORK/escalator.yaml" <<EOF
users:
  - id: alice
    contact_methods:
      - {id: hook, type: webhook, url: "http://127.0.0.1:$SINK_PORT/alice"}
escalation_policies:
  - id: p
    levels:
      - targets: [{user: alice}]
        escalate_after: 1h
services:
  - id: api
    escalation_policy: p
    integrations:
      - {type: alertmanager, key: "$AM_KEY"}
EOF
python3 "$BENCH_PY" am-payload "$ALERTS" "$GROUP_KEY_KB" >"$WORK/payload.json"
BODY_BYTES=$(file_size "$WORK/payload.json")

new_db sqlite cost
DB_FILE=${DB_URL#sqlite://}
PORT=$(freeport)
URL="http://127.0.0.1:$PORT"
start server "$BIN" serve --config "$WORK/escalator.yaml" --database "$DB_URL" \
    --listen "127.0.0.1:$PORT" --public-url "$URL" --webhook-secret bench-secret
SERVER_PID=$LAST_PID
wait_line "$WORK/server.log" "escalator listening on" "$SERVER_PID" 60
log "server $("$BIN" --version 2>/dev/null || echo "$BIN") on $DB_FILE"

idle_check cost
BEFORE_BYTES=$(db_bytes)
BEFORE_HWM=$(hwm_kb "$SERVER_PID")

# The largest the file and its WAL get while the request is handled.
(peak=0; while kill -0 "$SERVER_PID" 2>/dev/null; do
    b=$(db_bytes); ((b > peak)) && { peak=$b; echo "$peak" >"$WORK/peak_bytes"; }
    sleep 0.05
done) &
SAMPLER=$!
PIDS+=("$SAMPLER")

log "posting $ALERTS alerts with a ${GROUP_KEY_KB} KB groupKey ($BODY_BYTES bytes)"
ANSWER=$(curl -sS -o "$WORK/answer.json" -w '%{http_code} %{time_total}' \
    -H "Authorization: Bearer $AM_KEY" -H 'Content-Type: application/json' \
    --data-binary @"$WORK/payload.json" "$URL/api/v1/integrations/alertmanager")
STATUS=${ANSWER% *}
SECONDS_TAKEN=${ANSWER#* }
log "answer $STATUS in ${SECONDS_TAKEN}s: $(head -c 300 "$WORK/answer.json")"

# Pages are part of what the request costs: wait until none is left to send.
python3 "$BENCH_PY" wait "$DB_URL" \
    "SELECT CASE WHEN COUNT(*) = 0 THEN 1 ELSE 0 END FROM notifications WHERE status IN ('pending', 'sending')" \
    1 "$SETTLE_S" >"$WORK/settle.txt" || log "WARNING: pages still unsettled after ${SETTLE_S}s"
AFTER_BYTES=$(db_bytes)
AFTER_HWM=$(hwm_kb "$SERVER_PID")
stop "$SAMPLER"
PEAK_BYTES=$(cat "$WORK/peak_bytes" 2>/dev/null || echo "$AFTER_BYTES")
((PEAK_BYTES > AFTER_BYTES)) || PEAK_BYTES=$AFTER_BYTES
INCIDENTS=$(python3 "$BENCH_PY" count "$DB_URL" "SELECT COUNT(*) FROM incidents")
PAGES=$(python3 "$BENCH_PY" count "$DB_URL" "SELECT COUNT(*) FROM notifications WHERE status = 'sent'")
AUDIT=$("$BIN" audit verify --database "$DB_URL" 2>&1 || true)

result cost.status "$STATUS"
result cost.seconds "$SECONDS_TAKEN"
result cost.body_bytes "$BODY_BYTES"
result cost.incidents "$INCIDENTS"
result cost.pages_sent "$PAGES"
result cost.rss_peak_kb_before "$BEFORE_HWM"
result cost.rss_peak_kb "$AFTER_HWM"
result cost.db_wal_bytes_before "$BEFORE_BYTES"
result cost.db_wal_bytes_peak "$PEAK_BYTES"
result cost.db_wal_bytes_after "$AFTER_BYTES"
result cost.db_bytes_after "$(file_size "$DB_FILE")"
result cost.wal_bytes_after "$(file_size "$DB_FILE-wal")"

cat <<EOF
==============================================================================
Request cost: $ALERTS alerts, one ${GROUP_KEY_KB} KB groupKey, body $(mb "$BODY_BYTES") MB ($BODY_BYTES bytes)
  binary                      $BIN
  answer                      HTTP $STATUS in ${SECONDS_TAKEN} s; incidents $INCIDENTS, pages sent $PAGES
  server peak RSS (VmHWM)     $(mb $((AFTER_HWM * 1024))) MB (at start: $(mb $((BEFORE_HWM * 1024))) MB)
  database + WAL, growth      $(mb $((AFTER_BYTES - BEFORE_BYTES))) MB once settled (db $(mb "$(file_size "$DB_FILE")") MB, wal $(mb "$(file_size "$DB_FILE-wal")") MB)
                              $(mb $((PEAK_BYTES - BEFORE_BYTES))) MB at the largest during the request
  audit                       $AUDIT
==============================================================================
EOF
