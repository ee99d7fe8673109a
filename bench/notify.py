#!/usr/bin/env python3
"""Helpers for bench/notify.sh, the paging-latency benchmark (issue 5,
"Reaching people"). Standard library only; reuses bench.py.

Subcommands:
  config SINK_PORT                      the configuration: alice's webhook points at the sink
  open URL RUN_ID COUNT RATE [THREADS]  open COUNT incidents, paced at RATE/s (0: as fast as possible)
  wait DB OPENED TIMEOUT                poll until OPENED pages exist and every one is settled
  analyze DB ARRIVALS OPENED            page latency: sink arrival - due time, and accounting
  report RESULTS                        print the summary of a results file

Output meant for notify.sh is `key=value` lines on stdout.

The due time of a page is its incident's `created_at` (epoch ms): every
incident here is opened with one level-1 page whose notification rule is
`after: 0s`, so the page falls due the instant the incident opens (the
runner's `now` for the batch that opened it). `notifications.due_at` is read
too, as a cross-check: for a page sent on its first attempt it should hold the
same value (a retry moves it to the retry time).
"""
import itertools
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (routing_key, config_ingest, query, scalar)

TARGET_P99_MS = 50.0


def config(sink_port):
    # The ingest benchmark's configuration: one service, one policy whose
    # level 1 pages alice (one webhook, to the sink) and escalates after 30 min,
    # so each incident makes exactly one page during the run.
    return bench.config_ingest(sink_port)


# ---------------------------------------------------------------- opener

def open_paced(url, run_id, count, rate, threads):
    """Sends `count` triggers with distinct dedup keys. With rate > 0, request
    i is not sent before t0 + i/rate (a schedule shared by all threads, each
    holding one keep-alive connection); a thread that is behind sends at once,
    and how far behind the schedule sends started is reported."""
    key = bench.routing_key(0)
    counter = itertools.count()
    ok = [0] * threads
    bad = [0] * threads
    lag = [[] for _ in range(threads)]
    errors = []
    # paced: a moment for every thread to start
    t0 = time.monotonic() + (0.2 if rate > 0 else 0)

    def worker(t):
        enqueuer = bench.Enqueuer(url)
        lags = lag[t]
        while True:
            i = next(counter)
            if i >= count:
                break
            if rate > 0:
                due = t0 + i / rate
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                else:
                    lags.append(-wait)
            if enqueuer.trigger(key, f"{run_id}-{i}", f"notify bench incident {i}", errors):
                ok[t] += 1
            else:
                bad[t] += 1
        enqueuer.close()

    bench.run_threads(worker, threads)
    secs = time.monotonic() - t0
    bench.print_opened(sum(ok), sum(bad), secs, errors, errors_to=sys.stdout)
    if rate > 0:
        late = sorted(x for ls in lag for x in ls)
        print(f"open_target_rps={rate:g}")
        # sends that started behind their slot in the schedule, and the worst
        print(f"open_behind={len(late)}")
        print(f"open_behind_max_ms={(late[-1] * 1000 if late else 0):.1f}")


# ---------------------------------------------------------------- waiting

def wait_settled(db, opened, timeout):
    """Polls until at least `opened` pages exist and none is pending or sending."""
    started = time.monotonic()
    last = None
    while True:
        rows = bench.query(db, "SELECT COUNT(*), SUM(CASE WHEN status IN ('pending', 'sending') THEN 1 ELSE 0 END) FROM notifications")
        total = int(rows[0][0] or 0)
        open_ = int(rows[0][1] or 0) if rows[0][1] not in (None, "") else 0
        if (total, open_) != last:
            print(f"  ... pages {total}/{opened}, unsettled {open_}", file=sys.stderr, flush=True)
            last = (total, open_)
        if total >= opened and open_ == 0:
            print(f"waited_seconds={time.monotonic() - started:.1f}")
            return 0
        if time.monotonic() - started > timeout:
            print(f"waited_seconds={time.monotonic() - started:.1f}")
            print(f"wait_timed_out=1  # {total} pages, {open_} unsettled")
            return 1
        time.sleep(0.5)


# ---------------------------------------------------------------- analysis

def pct(sorted_values, p):
    """Nearest-rank percentile of a sorted, non-empty list."""
    k = max(0, min(len(sorted_values) - 1, -(-len(sorted_values) * p // 100) - 1))
    return sorted_values[int(k)]


def analyze(db, arrivals_path, opened):
    incidents = bench.scalar(db, "SELECT COUNT(*) FROM incidents")
    rows = bench.query(
        db,
        "SELECT n.idempotency_key, i.created_at, n.due_at, n.status, n.attempts "
        "FROM notifications n JOIN incidents i ON i.id = n.incident_id",
    )
    pages = {}  # key -> (created_at ms, due_at ms, status, attempts)
    for key, created, due, status, attempts in rows:
        pages[key] = (int(created), int(due), status, int(attempts))
    arrivals = {}  # key -> [ns, ...]
    with open(arrivals_path) as f:
        for line in f:
            ns, _, key = line.rstrip("\n").partition(" ")
            if ns:
                arrivals.setdefault(key, []).append(int(ns))

    requests = sum(len(v) for v in arrivals.values())
    duplicates = sum(len(v) - 1 for v in arrivals.values())
    unknown = sum(1 for k in arrivals if k not in pages)
    lost = [k for k in pages if k not in arrivals]
    statuses = {}
    for _, _, status, _ in pages.values():
        statuses[status] = statuses.get(status, 0) + 1
    retried = sum(1 for p in pages.values() if p[3] > 1)
    due_differs = sum(1 for p in pages.values() if p[0] != p[1])

    late_ms = []
    first_arrival = []
    for key, (created, _due, _s, _a) in pages.items():
        a = arrivals.get(key)
        if a:
            first = min(a)
            first_arrival.append(first)
            late_ms.append((first - created * 1_000_000) / 1e6)

    print(f"incidents={incidents}")
    print(f"pages={len(pages)}")
    print(f"sink_requests={requests}")
    print(f"sink_distinct={len(arrivals)}")
    print(f"measured={len(late_ms)}")
    print(f"duplicates={duplicates}")
    print(f"unknown_keys={unknown}")
    print(f"lost={len(lost)}")
    print(f"status_sent={statuses.get('sent', 0)}")
    print(f"status_other={len(pages) - statuses.get('sent', 0)}  # {json.dumps(statuses, sort_keys=True)}")
    print(f"retried={retried}")
    print(f"due_at_differs_from_created_at={due_differs}")
    exact = (opened == incidents == len(pages) == len(late_ms) == len(arrivals) == requests
             and duplicates == 0 and unknown == 0 and not lost)
    print(f"accounting={'exact' if exact else 'MISMATCH'}")
    if not late_ms:
        return
    v = sorted(late_ms)
    for p in (50, 90, 99):
        print(f"p{p}_ms={pct(v, p):.1f}")
    print(f"max_ms={v[-1]:.1f}")
    print(f"min_ms={v[0]:.1f}")
    print(f"over_50ms={sum(1 for x in v if x > TARGET_P99_MS)}")

    created = sorted(p[0] for p in pages.values())
    first_created_ns = created[0] * 1_000_000
    last_created_ns = created[-1] * 1_000_000
    last_arrival = max(first_arrival)
    span = (last_arrival - first_created_ns) / 1e9
    print(f"open_span_s={(last_created_ns - first_created_ns) / 1e9:.2f}  # first to last incident created")
    print(f"fully_paged_s={span:.2f}  # first incident created to last page at the sink")
    print(f"tail_s={(last_arrival - last_created_ns) / 1e9:.2f}  # last incident created to last page at the sink")
    print(f"drain_rps={len(late_ms) / span:.0f}" if span > 0 else "drain_rps=-")
    # busiest second at the sink
    per_s = {}
    for a in first_arrival:
        s = (a - first_created_ns) // 1_000_000_000
        per_s[s] = per_s.get(s, 0) + 1
    print(f"peak_pages_per_s={max(per_s.values())}")
    # p99 of lateness per 5 s of due time: where the tail sits (to the log)
    buckets = {}
    for key, (c, _d, _s, _a) in pages.items():
        a = arrivals.get(key)
        if a:
            buckets.setdefault((c * 1_000_000 - first_created_ns) // 5_000_000_000, []).append((min(a) - c * 1_000_000) / 1e6)
    for b in sorted(buckets):
        xs = sorted(buckets[b])
        print(f"  due {b * 5:>3}-{b * 5 + 5:<3}s: {len(xs):>6} pages, p50 {pct(xs, 50):8.1f} ms, "
              f"p99 {pct(xs, 99):8.1f} ms, max {xs[-1]:8.1f} ms", file=sys.stderr)


# ---------------------------------------------------------------- report

def report(path):
    r = bench.read_results(path)

    def g(k, default="-"):
        return r.get(k, default)

    backends = [b for b in ("sqlite", "postgres") if any(k.startswith(b + ".") for k in r)]
    phases = [("steady", f"Steady: {g('steady.rate')}/s for {g('steady.seconds')} s"),
              ("spread", f"Storm: {g('storm.count')} incidents spread over {g('storm.spread_s')} s"),
              ("burst", f"Storm: {g('storm.count')} incidents at once (as fast as the opener goes)")]
    out = ["=" * 78,
           f"Escalator paging benchmark (issue 5) — {g('date')} — {g('machine')}",
           f"sources {g('source')}, PostgreSQL {g('postgres')}",
           "latency = page's arrival at the webhook sink (loopback) - its due time",
           "(the incident's created_at). The sink sees the request a fraction of a",
           "millisecond after it leaves the server; created_at is truncated to the ms,",
           "so figures may read up to 1 ms high.",
           "=" * 78]
    hdr = f"{'':34}" + "".join(f"{b:>16}" for b in backends)

    def row(label, key, fmt="{:.0f}"):
        cells = []
        for b in backends:
            v = r.get(f"{b}.{key}")
            try:
                cells.append(f"{fmt.format(float(v)):>16}")
            except (TypeError, ValueError):
                cells.append(f"{(v or '-'):>16}")
        out.append(f"{label:34}" + "".join(cells))

    for ph, title in phases:
        if not any(f"{b}.{ph}.open_ok" in r for b in backends):
            continue
        out.append("")
        out.append(title)
        out.append(hdr)
        row("machine idle before %", f"{ph}.idle_before_pct")
        row("machine busy during %", f"{ph}.machine_busy_pct")
        row("server CPU (cores)", f"{ph}.server_cores", "{:.2f}")
        row("incidents opened (202)", f"{ph}.open_ok")
        row("open rate achieved /s", f"{ph}.open_rps")
        if ph != "burst":
            row("sends behind schedule (max ms)", f"{ph}.open_behind_max_ms", "{:.1f}")
        row("pages in DB", f"{ph}.pages")
        row("pages measured at sink", f"{ph}.measured")
        row("requests at the sink", f"{ph}.sink_requests")
        row("  distinct idempotency keys", f"{ph}.sink_distinct")
        row("  duplicates", f"{ph}.duplicates")
        row("  pages never arrived", f"{ph}.lost")
        row("  keys not in the DB", f"{ph}.unknown_keys")
        row("accounting", f"{ph}.accounting")
        row("latency p50 ms", f"{ph}.p50_ms", "{:.1f}")
        row("latency p90 ms", f"{ph}.p90_ms", "{:.1f}")
        row("latency p99 ms", f"{ph}.p99_ms", "{:.1f}")
        row("latency max ms", f"{ph}.max_ms", "{:.1f}")
        row("pages later than 50 ms", f"{ph}.over_50ms")
        if ph != "steady":
            row("fully paged after (s)", f"{ph}.fully_paged_s", "{:.2f}")
            row("  of which opening (s)", f"{ph}.open_span_s", "{:.2f}")
            row("  last page after last open (s)", f"{ph}.tail_s", "{:.2f}")
            row("drain pages/s (overall)", f"{ph}.drain_rps")
            row("peak pages in one second", f"{ph}.peak_pages_per_s")
        row("due_at != created_at (pages)", f"{ph}.due_at_differs_from_created_at")
    out.append("")
    out.append("Targets")
    for b in backends:
        p = r.get(f"{b}.steady.p99_ms")
        if p is not None:
            met = float(p) < TARGET_P99_MS
            out.append(f"  {b}: steady {g('steady.rate')}/s, page latency p99 < {TARGET_P99_MS:.0f} ms: "
                       f"{float(p):.1f} ms -> {'MET' if met else 'MISSED'}")
        for ph in ("steady", "spread", "burst"):
            a = r.get(f"{b}.{ph}.accounting")
            if a is not None:
                out.append(f"  {b}: {ph}: every incident paged exactly once: {'yes' if a == 'exact' else 'NO (' + a + ')'}")
        for ph in ("spread", "burst"):
            s = r.get(f"{b}.{ph}.fully_paged_s")
            if s is not None:
                out.append(f"  {b}: storm ({ph}) of {g('storm.count')} incidents fully paged {float(s):.1f} s "
                           f"after the first opened, {float(g(f'{b}.{ph}.tail_s', 'nan')):.2f} s after the last")
    out.append("=" * 78)
    print("\n".join(out))


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "config":
        sys.stdout.write(config(int(argv[2])))
    elif cmd == "open":
        threads = int(argv[6]) if len(argv) > 6 else 64
        open_paced(argv[2], argv[3], int(argv[4]), float(argv[5]), threads)
    elif cmd == "wait":
        return wait_settled(argv[2], int(argv[3]), float(argv[4]))
    elif cmd == "analyze":
        analyze(argv[2], argv[3], int(argv[4]))
    elif cmd == "report":
        report(argv[2])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
