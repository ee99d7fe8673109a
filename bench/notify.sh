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
RESULTS="$WORK/results.txt"
PIDS=()       # every background process we started, by pid
PG_DBS=()     # every database we created

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
result() { echo "$1=$2" >>"$RESULTS"; }

exec 3>&2   # the trap reports here even if it fires inside a redirected command
cleanup() {
    local rc=$?
    set +e
    exec 2>&3
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    for db in "${PG_DBS[@]}"; do
        psql -X -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1
    done
    if [[ -n ${BENCH_RESULTS:-} && -f $RESULTS ]]; then cp "$RESULTS" "$BENCH_RESULTS"; fi
    if [[ ${BENCH_KEEP:-0} == 1 || $rc != 0 ]]; then
        log "logs kept in $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME CMD...: runs CMD in the background, output to $WORK/NAME.log.
start() {
    local name=$1; shift
    "$@" >"$WORK/$name.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}

# stop PID: ends one process we started (TERM, then KILL after 10 s), and forgets it.
stop() {
    local pid=$1 keep=()
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

# run_wait OUTFILE CMD...: runs CMD to completion (stdout to OUTFILE, stderr
# to OUTFILE.err) as a tracked background job, so an interrupt reaches the
# EXIT trap at once and the trap ends CMD too.
run_wait() {
    local out=$1 pid rc=0 keep=()
    shift
    "$@" >"$out" 2>"$out.err" &
    pid=$!
    PIDS+=("$pid")
    wait "$pid" || rc=$?
    for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
    PIDS=("${keep[@]}")
    return "$rc"
}

# wait_line FILE PATTERN PID SECONDS
wait_line() {
    local file=$1 pattern=$2 pid=$3 secs=$4
    for _ in $(seq $((secs * 10))); do
        grep -q "$pattern" "$file" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || { cat "$file" >&2; die "process $pid exited before '$pattern'"; }
        sleep 0.1
    done
    cat "$file" >&2
    die "timed out waiting for '$pattern' in $file"
}

freeport() { python3 "$BENCH_PY" freeport; }

# new_db BACKEND NAME: sets DB_URL to a fresh database (PostgreSQL ones are
# dropped on exit).
new_db() {
    local backend=$1 name=$2
    if [[ $backend == sqlite ]]; then
        DB_URL="sqlite://$WORK/$name.db"
    else
        local db="bench_${name}_$$_$(date +%s)"
        psql -X -q "$PG/postgres" -v ON_ERROR_STOP=1 -c "CREATE DATABASE $db" >/dev/null
        PG_DBS+=("$db")
        # Over the Unix socket when there is one: sqlx 0.9.0 leaves Nagle on for TCP
        # (sqlx issue #4335), which stalls each round trip ~40 ms on loopback.
        if [[ -S "$PG_SOCKET/.s.PGSQL.5432" ]]; then
            DB_URL="postgres://postgres@localhost/$db?host=$PG_SOCKET"
        else
            DB_URL="$PG/$db"
        fi
    fi
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# machine_ticks: "busy total" clock ticks of the whole machine.
machine_ticks() { awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t}' /proc/stat; }
busy_pct() { awk -v a="$1" -v b="$2" 'BEGIN {split(a, x, " "); split(b, y, " "); printf "%.0f", 100 * (y[1] - x[1]) / (y[2] - x[2])}'; }

# idle_check KEY: waits (up to BENCH_QUIET_WAIT s) for the machine to be at
# least 85% idle over 2 s, and records how idle it was.
idle_check() {
    local a b pct waited=0
    while :; do
        a=$(machine_ticks); sleep 2; b=$(machine_ticks)
        pct=$((100 - $(busy_pct "$a" "$b")))
        ((pct < 85 && waited < ${BENCH_QUIET_WAIT:-180})) || break
        ((waited % 30)) || log "machine only ${pct}% idle (something else is running); waiting for it to quieten"
        waited=$((waited + 2))
    done
    result "$1.idle_before_pct" "$pct"
    ((pct >= 85)) || log "WARNING: the machine was only ${pct}% idle before this phase: figures will be skewed"
}

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

if [[ -z ${ESCALATOR_BIN:-} && ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
    log "building (cargo build --release -p escalator-cli)"
    (cd "$ROOT" && cargo build --release -p escalator-cli) >&2
fi
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
