# Shared by run.sh and notify.sh: logging, results, the processes and
# databases a run starts (all stopped or dropped on exit, Ctrl-C included),
# free ports, fresh databases, and the machine-idle check.
#
# The sourcing script sets WORK (a fresh temporary directory), PG and
# PG_SOCKET (the PostgreSQL server), BENCH_PY, BIN and ROOT first.

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

# build: the release binary, unless BENCH_SKIP_BUILD=1 and it exists.
build() {
    if [[ ${BENCH_SKIP_BUILD:-0} == 1 && -x $BIN ]]; then
        log "using existing $BIN"
        return
    fi
    log "building (cargo build --release -p escalator-cli)"
    (cd "$ROOT" && cargo build --release -p escalator-cli) >&2
}
