#!/usr/bin/env bash
# Escalator benchmarks: ingest throughput (vs. Prometheus Alertmanager) and
# escalation lateness, on SQLite and on PostgreSQL. See bench/README.md.
#
#   bash bench/run.sh
#
# Knobs (environment):
#   BENCH_BACKENDS="sqlite postgres"   which databases to run on
#   BENCH_PG=postgres://postgres@127.0.0.1:5432   PostgreSQL server (trust auth)
#   BENCH_PG_SOCKET=/var/run/postgresql          its Unix socket directory, used when present
#   BENCH_DURATION=20s BENCH_CONNECTIONS=64 BENCH_THREADS=2   wrk settings
#   BENCH_WIDE_CONNECTIONS=256         connections of the second ingest run ("wide")
#   BENCH_INCIDENTS=10000 BENCH_POLICIES=10                    escalation benchmark size
#   BENCH_FIRST_ESCALATION_S=20 BENCH_ESCALATION_STEP_S=5      level-1 escalate_after stagger
#   BENCH_SKIP=ingest|rules|alertmanager|escalation (space-separated) parts to skip
#   BENCH_DIAG=1                      also run ingest with pages deferred 1 h (notifier idle)
#   BENCH_SKIP_BUILD=1                 use the existing target/release/escalator
#   ESCALATOR_BIN=PATH                 the server binary; when set, nothing is built
#   BENCH_RESULTS=FILE                 also keep the raw key=value results here
#   BENCH_QUIET_WAIT=180               max seconds to wait for an idle machine before each phase
#   BENCH_KEEP=1                       keep the temp dir (logs, SQLite files)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
BENCH_PY="$HERE/bench.py"
BIN="${ESCALATOR_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/escalator}"

BACKENDS=${BENCH_BACKENDS:-"sqlite postgres"}
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
PG_SOCKET=${BENCH_PG_SOCKET:-/var/run/postgresql}
DURATION=${BENCH_DURATION:-20s}
CONNS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
# The ingest phase again from more clients: what group commit reaches when
# enough requests are in flight to fill its batches.
WIDE_CONNS=${BENCH_WIDE_CONNECTIONS:-256}
export BENCH_INCIDENTS=${BENCH_INCIDENTS:-10000}
export BENCH_POLICIES=${BENCH_POLICIES:-10}
export BENCH_FIRST_ESCALATION_S=${BENCH_FIRST_ESCALATION_S:-20}
export BENCH_ESCALATION_STEP_S=${BENCH_ESCALATION_STEP_S:-5}
SKIP=" ${BENCH_SKIP:-} "
WEBHOOK_SECRET=bench-secret

WORK=$(mktemp -d /tmp/escalator-bench.XXXXXX)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

# ------------------------------------------------------------------ setup

install_tools() {
    local need=()
    command -v wrk >/dev/null || need+=(wrk)
    command -v prometheus-alertmanager >/dev/null || [[ -x /usr/bin/prometheus-alertmanager ]] || need+=(prometheus-alertmanager)
    command -v psql >/dev/null || need+=(postgresql-client)
    if ((${#need[@]})); then
        log "installing ${need[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
        # the Debian package may start its own service; we run our own instance
    fi
}

# start_sink NAME: starts a webhook sink; sets SINK_PORT and SINK_PID.
start_sink() {
    SINK_PORT=$(freeport)
    start "$1-sink" python3 "$HERE/sink.py" "$SINK_PORT" "$WORK/$1-sink.stats"
    SINK_PID=$LAST_PID
    wait_line "$WORK/$1-sink.log" "sink listening" "$SINK_PID" 10
}

# start_server NAME CONFIG DB: sets SERVER_URL and SERVER_PID.
start_server() {
    local name=$1 config=$2 db=$3 port
    port=$(freeport)
    SERVER_URL="http://127.0.0.1:$port"
    start "$name-server" "$BIN" serve --config "$config" --database "$db" \
        --listen "127.0.0.1:$port" --public-url "$SERVER_URL" --webhook-secret "$WEBHOOK_SECRET" \
        --events-rate-limit 0   # the per-key limit is a policy, not what is measured here
    SERVER_PID=$LAST_PID
    wait_line "$WORK/$name-server.log" "escalator listening on" "$SERVER_PID" 60
}

# field LINE KEY: the value of KEY=... in a "BENCH k=v k=v" line.
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

# ------------------------------------------------------------------ ingest

# ctx_switches PID: context switches of a process, summed over its threads.
ctx_switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {s += $2} END {print s + 0}'; }

# bench_ingest BACKEND [deferred]: wrk against /v2/enqueue. With `deferred`,
# pages are planned 1 h after the incident opens, so the notifier sends
# nothing during the run: a diagnostic of how much the notifier costs ingest.
bench_ingest() {
    local b=$1 variant=${2:-} db config line ok sent bad incidents failures name key conns=$CONNS
    [[ $variant == wide ]] && conns=$WIDE_CONNS
    name="ingest${variant:+-$variant}-$b"
    key="$b.ingest${variant:+_$variant}"
    log "[$b] ingest${variant:+ ($variant)}: ${DURATION}, ${conns} connections, ${THREADS} threads"
    start_sink "$name"
    config="$WORK/$name.yaml"
    python3 "$BENCH_PY" config-ingest "$SINK_PORT" ${variant:+"$variant"} >"$config"
    new_db "$b" "${name//-/_}"
    db=$DB_URL
    start_server "$name" "$config" "$db"

    local cpu0 ctx0 m0 cpu1 ctx1 m1
    idle_check "$key"
    cpu0=$(cpu_ticks "$SERVER_PID"); ctx0=$(ctx_switches "$SERVER_PID"); m0=$(machine_ticks)
    TARGET=escalator ROUTING_KEY=$(python3 "$BENCH_PY" routing-key 0) RUN_ID="$name" \
        run_wait "$WORK/$name.wrk" wrk -t"$THREADS" -c"$conns" -d"$DURATION" --timeout 10s --latency \
        -s "$HERE/load.lua" "$SERVER_URL" || { cat "$WORK/$name.wrk" "$WORK/$name.wrk.err" >&2; die "wrk failed"; }
    cpu1=$(cpu_ticks "$SERVER_PID"); ctx1=$(ctx_switches "$SERVER_PID"); m1=$(machine_ticks)
    sed 's/^/    /' "$WORK/$name.wrk" >&2
    line=$(grep '^BENCH ' "$WORK/$name.wrk")
    for k in ok sent bad ok_rps rps p50_ms p90_ms p99_ms max_ms; do result "$key.$k" "$(field "$line" "$k")"; done
    ok=$(field "$line" ok); sent=$(field "$line" sent); bad=$(field "$line" bad)
    failures=$((bad + $(field "$line" err_connect) + $(field "$line" err_read) + $(field "$line" err_write) + $(field "$line" err_timeout)))
    result "$key.failures" "$failures"
    local hz secs
    hz=$(getconf CLK_TCK); secs=$(field "$line" seconds)
    result "$key.server_cores" "$(awk -v d=$((cpu1 - cpu0)) -v hz="$hz" -v s="$secs" 'BEGIN {printf "%.2f", d / hz / s}')"
    result "$key.machine_busy_pct" "$(busy_pct "$m0" "$m1")"
    result "$key.ctx_switches_per_event" "$(awk -v d=$((ctx1 - ctx0)) -v n="$ok" 'BEGIN {printf "%.1f", n ? d / n : 0}')"

    # Requests still in flight when wrk stopped may be committed after it
    # hung up: give the runner a moment, then every 202 must be an incident and
    # no incident may exist that was never asked for.
    sleep 2
    incidents=$(python3 "$BENCH_PY" count "$db" "SELECT COUNT(*) FROM incidents")
    result "$key.incidents" "$incidents"
    # Every incident of one runner batch carries the batch's timestamp: distinct
    # created_at values count the group commits.
    result "$key.events_per_commit" "$(awk -v n="$incidents" -v c="$(python3 "$BENCH_PY" count "$db" \
        "SELECT COUNT(DISTINCT created_at) FROM incidents")" 'BEGIN {printf "%.1f", c ? n / c : 0}')"
    if ((incidents >= ok && incidents <= sent)); then
        if ((incidents == ok)); then
            result "$key.accounting" "exact"
        else
            result "$key.accounting" "ok(+$((incidents - ok))_in_flight)"
        fi
    else
        result "$key.accounting" "MISMATCH"
        log "[$b] ACCOUNTING MISMATCH: 202s=$ok incidents=$incidents sent=$sent"
    fi
    log "[$b] ingest: $(field "$line" ok_rps) events/s, 202s=$ok incidents=$incidents sent=$sent non-202/errors=$failures"

    if [[ -z $variant ]]; then
        # How far behind the notifier (webhook outbox) fell, and how fast it
        # catches up once the load stops (measured over up to 20 s).
        local sent_now settled0 settled1 t0 t1 left
        local settled_sql="SELECT COUNT(*) FROM notifications WHERE status NOT IN ('pending', 'sending')"
        sent_now=$(python3 "$BENCH_PY" count "$db" "SELECT COUNT(*) FROM notifications WHERE status = 'sent'")
        result "$key.webhooks_per_s_during_load" "$(awk -v n="$sent_now" -v s="$secs" 'BEGIN {printf "%.0f", n / s}')"
        settled0=$(python3 "$BENCH_PY" count "$db" "$settled_sql"); t0=$(date +%s.%N)
        for _ in $(seq 20); do
            sleep 1
            settled1=$(python3 "$BENCH_PY" count "$db" "$settled_sql")
            ((settled1 < incidents)) || break
        done
        t1=$(date +%s.%N)
        left=$((incidents - settled1))
        result "$key.webhooks_per_s_after_load" "$(awk -v n=$((settled1 - settled0)) -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / (b - a)}')"
        result "$key.outbox_left" "$left"
        result "$key.drain_estimate_s" "$(awk -v n=$((settled1 - settled0)) -v a="$t0" -v b="$t1" -v l="$left" \
            'BEGIN {r = n / (b - a); if (l == 0) printf "0 (drained)"; else if (r > 0) printf "%.0f more", l / r; else printf "stalled"}')"
        log "[$b] notifier: $sent_now pages sent during the load; $left of $incidents still queued after $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", b - a}') s more"
        result "$key.webhooks_sent" \
            "$(python3 "$BENCH_PY" count "$db" "SELECT COUNT(*) FROM notifications WHERE status = 'sent'")"
        result "$key.webhooks_failed" \
            "$(python3 "$BENCH_PY" count "$db" "SELECT COUNT(*) FROM notifications WHERE status = 'failed'")"
    fi

    stop "$SERVER_PID"
    stop "$SINK_PID"
    result "$key.sink_requests" "$(sed -n 's/^requests=//p' "$WORK/$name-sink.stats")"
}

# ------------------------------------------------------------------ alertmanager

bench_alertmanager() {
    local am port dir line
    am=$(command -v prometheus-alertmanager || echo /usr/bin/prometheus-alertmanager)
    dir="$WORK/alertmanager"
    mkdir -p "$dir/data"
    cat >"$dir/alertmanager.yml" <<'EOF'
route:
  receiver: "null"
receivers:
  - name: "null"
EOF
    port=$(freeport)
    start alertmanager "$am" --config.file="$dir/alertmanager.yml" --storage.path="$dir/data" \
        --web.listen-address="127.0.0.1:$port" --cluster.listen-address=
    local pid=$LAST_PID
    for _ in $(seq 100); do
        curl -fsS "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1 && break
        kill -0 "$pid" 2>/dev/null || { cat "$WORK/alertmanager.log" >&2; die "alertmanager exited"; }
        sleep 0.2
    done
    result am.version "$("$am" --version 2>&1 | head -1 | awk '{print $3}')"
    idle_check am
    local m0 m1
    m0=$(machine_ticks)
    log "alertmanager: ${DURATION}, ${CONNS} connections, ${THREADS} threads"
    TARGET=alertmanager RUN_ID=am run_wait "$WORK/alertmanager.wrk" wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" \
        --timeout 10s --latency -s "$HERE/load.lua" "http://127.0.0.1:$port" \
        || { cat "$WORK/alertmanager.wrk" "$WORK/alertmanager.wrk.err" >&2; die "wrk failed"; }
    m1=$(machine_ticks)
    result am.machine_busy_pct "$(busy_pct "$m0" "$m1")"
    sed 's/^/    /' "$WORK/alertmanager.wrk" >&2
    line=$(grep '^BENCH ' "$WORK/alertmanager.wrk")
    for k in ok ok_rps p50_ms p99_ms; do result "am.$k" "$(field "$line" "$k")"; done
    result am.failures $(($(field "$line" bad) + $(field "$line" err_connect) + $(field "$line" err_read) + $(field "$line" err_timeout)))
    # Accounting on Alertmanager's side: alerts it counted as received, and
    # distinct alerts it holds (every instance label was unique).
    local metrics
    metrics=$(curl -fsS "http://127.0.0.1:$port/metrics" || true)
    result am.received "$(awk '/^alertmanager_alerts_received_total/ {s += $2} END {printf "%.0f", s}' <<<"$metrics")"
    result am.held "$(awk '/^alertmanager_alerts\{state=/ {s += $2} END {printf "%.0f", s}' <<<"$metrics")"
    log "alertmanager: $(field "$line" ok_rps) alerts/s"
    stop "$pid"
}

# ------------------------------------------------------------------ escalation lateness

bench_escalation() {
    local b=$1 db config out last timeout
    log "[$b] escalation: $BENCH_INCIDENTS incidents over $BENCH_POLICIES policies"
    start_sink "esc-$b"
    config="$WORK/esc-$b.yaml"
    python3 "$BENCH_PY" config-escalation "$SINK_PORT" >"$config"
    new_db "$b" esc
    db=$DB_URL
    start_server "esc-$b" "$config" "$db"
    idle_check "$b.esc"
    local m0 m1
    m0=$(machine_ticks)

    run_wait "$WORK/esc-$b.open" python3 "$BENCH_PY" open "$SERVER_URL" "esc-$b"
    out=$(grep "^open_" "$WORK/esc-$b.open")
    echo "$out" | sed "s/^/$b.esc./" >>"$RESULTS"
    log "[$b] opened: $(tr '\n' ' ' <<<"$out")"
    [[ $(sed -n 's/^open_ok=//p' <<<"$out") == "$BENCH_INCIDENTS" ]] || log "[$b] WARNING: not every incident opened"

    last=$((BENCH_FIRST_ESCALATION_S + (BENCH_POLICIES - 1) * BENCH_ESCALATION_STEP_S))
    timeout=$((last + 300))
    log "[$b] waiting for $BENCH_INCIDENTS escalations (last due ~${last}s after opening; timeout ${timeout}s)"
    run_wait "$WORK/esc-$b.wait" python3 "$BENCH_PY" wait "$db" "SELECT COUNT(*) FROM timeline WHERE kind = 'escalated'" \
        "$BENCH_INCIDENTS" "$timeout" || log "[$b] WARNING: not every incident escalated"
    grep "=" "$WORK/esc-$b.wait" | sed "s/^/$b.esc.wait_/" >>"$RESULTS" || true
    log "[$b] waiting for level-2 pages to settle"
    run_wait "$WORK/esc-$b.l2wait" python3 "$BENCH_PY" wait "$db" \
        "SELECT COUNT(*) FROM notifications WHERE level = 2 AND status NOT IN ('pending', 'sending')" \
        "$BENCH_INCIDENTS" 300 || log "[$b] WARNING: level-2 pages still pending"
    grep "=" "$WORK/esc-$b.l2wait" | sed "s/^/$b.esc.l2wait_/" >>"$RESULTS" || true
    m1=$(machine_ticks)
    result "$b.esc.machine_busy_pct" "$(busy_pct "$m0" "$m1")"

    out=$(python3 "$BENCH_PY" lateness "$db")
    echo "$out" | sed "s/^/$b.esc./" >>"$RESULTS"
    log "[$b] lateness: $(tr '\n' ' ' <<<"$out")"
    stop "$SERVER_PID"
    stop "$SINK_PID"
}

# ------------------------------------------------------------------ main

install_tools
command -v curl >/dev/null || die "curl is needed"
[[ -n ${ESCALATOR_BIN:-} ]] || build
[[ -x $BIN ]] || die "no binary at $BIN"
for b in $BACKENDS; do
    if [[ $b == postgres ]]; then
        psql -X -q "$PG/postgres" -c 'SELECT 1' >/dev/null || die "PostgreSQL not reachable at $PG"
    fi
done

result date "$(date -u +%Y-%m-%dT%H:%MZ)"
result machine "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
result source "$(cd "$ROOT" && find crates Cargo.toml Cargo.lock -type f -not -path '*/target/*' -print0 | sort -z \
    | xargs -0 sha256sum | sha256sum | cut -c1-12)  # fingerprint of the sources benchmarked"
result postgres "$(psql -X -At "$PG/postgres" -c 'SHOW server_version' 2>/dev/null | cut -d' ' -f1)"
result wrk.threads "$THREADS"
result wrk.connections "$CONNS"
result wrk.wide_connections "$WIDE_CONNS"
result wrk.duration "$DURATION"
result esc.incidents "$BENCH_INCIDENTS"
result esc.policies "$BENCH_POLICIES"
result esc.stagger "${BENCH_FIRST_ESCALATION_S}s..$((BENCH_FIRST_ESCALATION_S + (BENCH_POLICIES - 1) * BENCH_ESCALATION_STEP_S))s step ${BENCH_ESCALATION_STEP_S}s"

if [[ $SKIP != *" ingest "* ]]; then
    for b in $BACKENDS; do
        bench_ingest "$b"
        if [[ $SKIP != *" rules "* ]]; then bench_ingest "$b" rules; fi
        if [[ $SKIP != *" wide "* ]]; then bench_ingest "$b" wide; fi
        if [[ ${BENCH_DIAG:-0} == 1 ]]; then bench_ingest "$b" deferred; fi
    done
fi
if [[ $SKIP != *" alertmanager "* ]]; then
    bench_alertmanager
fi
if [[ $SKIP != *" escalation "* ]]; then
    for b in $BACKENDS; do bench_escalation "$b"; done
fi

python3 "$BENCH_PY" report "$RESULTS"
