#!/usr/bin/env bash
# Escalator paging benchmark (issue 5, "Reaching people"): how long a page
# takes from its due time to the webhook, at a steady 1 000 pages/s and in a
# storm of 10 000 incidents. See bench/README.md ("Paging latency").
#
#   bash bench/notify.sh
#
# Knobs (environment):
#   ESCALATOR_BIN=PATH                 the server binary (default ${CARGO_TARGET_DIR:-target}/release/escalator;
#                                      when set, nothing is built)
#   BENCH_SKIP_BUILD=1                 do not run cargo build
#   BENCH_BACKENDS="sqlite"            which databases ("sqlite postgres" for both)
#   BENCH_PG=postgres://postgres@127.0.0.1:5432   PostgreSQL server (trust auth)
#   BENCH_PG_SOCKET=/var/run/postgresql          its Unix socket directory, used when present
#   NOTIFY_PHASES="steady spread burst"          which phases to run
#   NOTIFY_RATE=1000 NOTIFY_SECONDS=30           steady phase: incidents (= pages) per second, seconds
#   NOTIFY_STORM=10000 NOTIFY_STORM_SPREAD_S=60  storm size, and the spread of the "spread" variant
#   NOTIFY_THREADS=64                            opener threads (keep-alive connections)
#   NOTIFY_WAIT_S=300                            max seconds to wait for every page to settle
#   BENCH_QUIET_WAIT=180               max seconds to wait for an idle machine before each phase
#   BENCH_RESULTS=FILE                 also keep the raw key=value results here
#   BENCH_KEEP=1                       keep the temp dir (logs, SQLite files, sink arrival logs)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
BENCH_PY="$HERE/bench.py"
NOTIFY_PY="$HERE/notify.py"
BIN="${ESCALATOR_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/escalator}"

BACKENDS=${BENCH_BACKENDS:-sqlite}
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
PG_SOCKET=${BENCH_PG_SOCKET:-/var/run/postgresql}
PHASES=" ${NOTIFY_PHASES:-steady spread burst} "
RATE=${NOTIFY_RATE:-1000}
SECONDS_STEADY=${NOTIFY_SECONDS:-30}
STORM=${NOTIFY_STORM:-10000}
SPREAD_S=${NOTIFY_STORM_SPREAD_S:-60}
OPEN_THREADS=${NOTIFY_THREADS:-64}
WAIT_S=${NOTIFY_WAIT_S:-300}
WEBHOOK_SECRET=bench-secret

WORK=$(mktemp -d /tmp/escalator-notify.XXXXXX)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

# phase BACKEND NAME COUNT RATE: a fresh database, sink and server; open COUNT
# incidents at RATE/s (0: as fast as possible); wait until every page is
# settled; then measure each page's arrival at the sink against its due time.
phase() {
    local b=$1 ph=$2 count=$3 rate=$4 key="$1.$2" name="$2-$1" sink_port sink_pid server_pid port url db
    log "[$b] $ph: $count incidents at $( [[ $rate == 0 ]] && echo 'full speed' || echo "${rate}/s")"

    sink_port=$(freeport)
    start "$name-sink" python3 "$HERE/sink.py" "$sink_port" "$WORK/$name-sink.stats" "$WORK/$name.arrivals"
    sink_pid=$LAST_PID
    wait_line "$WORK/$name-sink.log" "sink listening" "$sink_pid" 10

    python3 "$NOTIFY_PY" config "$sink_port" >"$WORK/$name.yaml"
    new_db "$b" "notify_${ph}"
    db=$DB_URL
    port=$(freeport)
    url="http://127.0.0.1:$port"
    start "$name-server" "$BIN" serve --config "$WORK/$name.yaml" --database "$db" \
        --listen "127.0.0.1:$port" --public-url "$url" --webhook-secret "$WEBHOOK_SECRET" \
        --events-rate-limit 0
    server_pid=$LAST_PID
    wait_line "$WORK/$name-server.log" "escalator listening on" "$server_pid" 60

    idle_check "$key"
    local cpu0 m0 t0 cpu1 m1 t1
    cpu0=$(cpu_ticks "$server_pid"); m0=$(machine_ticks); t0=$(date +%s.%N)
    run_wait "$WORK/$name.open" python3 "$NOTIFY_PY" open "$url" "$name" "$count" "$rate" "$OPEN_THREADS" \
        || { cat "$WORK/$name.open.err" >&2; die "opener failed"; }
    sed "s/^/$key./" "$WORK/$name.open" >>"$RESULTS"
    log "[$b] $ph opened: $(tr '\n' ' ' <<<"$(grep -v '^open_errors' "$WORK/$name.open")")"
    local opened
    opened=$(sed -n 's/^open_ok=//p' "$WORK/$name.open")
    ((opened == count)) || log "[$b] WARNING: only $opened of $count incidents opened"

    run_wait "$WORK/$name.wait" python3 "$NOTIFY_PY" wait "$db" "$opened" "$WAIT_S" \
        || log "[$b] WARNING: not every page settled within ${WAIT_S}s"
    sed "s/^/$key./" "$WORK/$name.wait" >>"$RESULTS"
    cpu1=$(cpu_ticks "$server_pid"); m1=$(machine_ticks); t1=$(date +%s.%N)
    result "$key.machine_busy_pct" "$(busy_pct "$m0" "$m1")"
    result "$key.server_cores" "$(awk -v d=$((cpu1 - cpu0)) -v hz="$(getconf CLK_TCK)" -v a="$t0" -v b="$t1" \
        'BEGIN {printf "%.2f", d / hz / (b - a)}')"

    sleep 0.5   # the last responses' bytes, before the sink is stopped
    stop "$server_pid"
    stop "$sink_pid"   # flushes the arrivals file
    run_wait "$WORK/$name.analysis" python3 "$NOTIFY_PY" analyze "$db" "$WORK/$name.arrivals" "$opened" \
        || { cat "$WORK/$name.analysis.err" >&2; die "analysis failed"; }
    sed "s/^/$key./" "$WORK/$name.analysis" >>"$RESULTS"
    sed 's/^/    /' "$WORK/$name.analysis.err" >&2
    local a; a=$(<"$WORK/$name.analysis")
    log "[$b] $ph: pages $(sed -n 's/^measured=//p' <<<"$a")/$opened, latency p50 $(sed -n 's/^p50_ms=//p' <<<"$a") ms," \
        "p99 $(sed -n 's/^p99_ms=//p' <<<"$a") ms, max $(sed -n 's/^max_ms=//p' <<<"$a") ms," \
        "accounting $(sed -n 's/^accounting=//p' <<<"$a")"
}

# ------------------------------------------------------------------ main

[[ -n ${ESCALATOR_BIN:-} ]] || build
[[ -x $BIN ]] || die "no binary at $BIN (set ESCALATOR_BIN)"
for b in $BACKENDS; do
    case $b in
        sqlite) ;;
        postgres) psql -X -q "$PG/postgres" -c 'SELECT 1' >/dev/null || die "PostgreSQL not reachable at $PG" ;;
        *) die "unknown backend $b" ;;
    esac
done

result date "$(date -u +%Y-%m-%dT%H:%MZ)"
result machine "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
result source "$(cd "$ROOT" && find crates Cargo.toml Cargo.lock -type f -not -path '*/target/*' -print0 | sort -z \
    | xargs -0 sha256sum | sha256sum | cut -c1-12)  # fingerprint of the sources benchmarked"
[[ " $BACKENDS " == *" postgres "* ]] && result postgres "$(psql -X -At "$PG/postgres" -c 'SHOW server_version' 2>/dev/null | cut -d' ' -f1)"
result steady.rate "$RATE"
result steady.seconds "$SECONDS_STEADY"
result storm.count "$STORM"
result storm.spread_s "$SPREAD_S"

for b in $BACKENDS; do
    if [[ $PHASES == *" steady "* ]]; then
        phase "$b" steady "$(awk -v r="$RATE" -v s="$SECONDS_STEADY" 'BEGIN {printf "%d", r * s}')" "$RATE"
    fi
    if [[ $PHASES == *" spread "* ]]; then
        phase "$b" spread "$STORM" "$(awk -v n="$STORM" -v s="$SPREAD_S" 'BEGIN {printf "%.3f", n / s}')"
    fi
    if [[ $PHASES == *" burst "* ]]; then
        phase "$b" burst "$STORM" 0
    fi
done

python3 "$NOTIFY_PY" report "$RESULTS"
