#!/usr/bin/env python3
"""NAB scoring (standard profile), re-implemented with the Python 3 stdlib.

Follows the Numenta Anomaly Benchmark v1.1 scorer (`nab/sweeper.py`,
`nab/optimizer.py`, `nab/runner.py`; Lavin & Ahmad 2015):

* every row gets a sweep score: inside a labelled window, the scaled sigmoid
  of its relative position (earliest = largest reward, scaled so the window's
  first row earns exactly A_TP); outside every window, A_FP times the scaled
  sigmoid of the distance past the previous window's end in window widths
  (-1 when no window came before, so a far false positive costs 0.11);
* the probationary rows (min(15% of the file, 750)) are ignored;
* only the best (first) detection in a window counts; a window with no
  detection costs A_FN;
* one threshold for the whole corpus is chosen by sweeping every distinct
  anomaly score from high to low and keeping the best total (NAB's optimizer);
* normalised score = 100 * (S - S_null) / (S_perfect - S_null), where
  S_perfect = number of windows * A_TP.

Usage:
  score.py --nab DIR --results DIR [--methods a,b] [--firing-line 0.5]
  score.py --nab DIR --selftest
"""

import argparse
import csv
import json
import math
import os
import random
import sys
from datetime import datetime

# Standard profile.
A_TP, A_FP, A_FN = 1.0, 0.11, 1.0
PROBATION_PERCENT = 0.15

# Published standard-profile scoreboard (NAB v1.1, from the data README).
SCOREBOARD = [
    ("Numenta HTM", 70.5),
    ("CAD OSE", 69.9),
    ("earthgecko Skyline", 58.2),
    ("KNN CAD", 58.0),
    ("Relative Entropy", 54.6),
    ("Random Cut Forest", 51.7),
    ("Twitter ADVec", 47.1),
    ("Windowed Gaussian", 39.6),
    ("Etsy Skyline", 35.7),
    ("Bayesian changepoint", 17.7),
    ("random", 11.0),
]


def scaled_sigmoid(x):
    """NAB's 2 * sigmoid(-5x) - 1, with -1 beyond three window widths."""
    if x > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * x)) - 1.0


MAX_TP = scaled_sigmoid(-1.0)


def parse_ts(text):
    return datetime.fromisoformat(text.strip())


def probationary_length(n):
    return min(math.floor(PROBATION_PERCENT * n), PROBATION_PERCENT * 5000)


def window_indices(timestamps, windows):
    """Window limits as row indices (NAB requires the limits to be rows)."""
    where = {t: i for i, t in enumerate(timestamps)}
    out = []
    for start, end in sorted(windows):
        a, b = where.get(parse_ts(start)), where.get(parse_ts(end))
        if a is None or b is None:
            raise ValueError(f"window {start}..{end} does not start and end on rows")
        out.append((a, b))
    return out


def sweep_items(name, n, windows):
    """(sweep score, window name) per row, as NAB's _prepareScoringItems.

    The window name is None outside windows and "probationary" for ignored rows.
    """
    prob = probationary_length(n)
    items = []
    pending = list(windows)
    cur = None
    prev_right = prev_width = None
    for i in range(n):
        if cur is None and pending and i == pending[0][0]:
            cur = pending.pop(0)
            width = float(cur[1] - cur[0] + 1)
        if cur is not None:
            position = -(cur[1] - i + 1) / width
            weighted = scaled_sigmoid(position) * A_TP / MAX_TP
            wname = f"{name}|{cur[0]}"
        else:
            if prev_right is None:
                unweighted = -1.0
            else:
                past = abs(prev_right - i) / max(prev_width - 1.0, 1.0)
                unweighted = scaled_sigmoid(past)
            weighted = unweighted * A_FP
            wname = None
        if i < prob:
            wname = "probationary"
        items.append((weighted, wname))
        if cur is not None and i == cur[1]:
            prev_right, prev_width, cur = i, width, None
    return items


class Corpus:
    """Timestamps, windows and sweep items per file."""

    def __init__(self, nab_dir):
        with open(os.path.join(nab_dir, "labels", "combined_windows.json")) as f:
            labels = json.load(f)
        self.files = {}
        self.window_count = 0
        for rel, wins in sorted(labels.items()):
            with open(os.path.join(nab_dir, "data", rel), newline="") as f:
                rows = list(csv.reader(f))[1:]
            ts = [parse_ts(r[0]) for r in rows]
            idx = window_indices(ts, wins)
            self.window_count += len(idx)
            self.files[rel] = {
                "timestamps": ts,
                "windows": idx,
                "items": sweep_items(rel, len(ts), idx),
            }


def score_points(corpus, scores_by_file):
    """All scorable rows as (anomaly score, sweep score, window name)."""
    points = []
    for rel, f in corpus.files.items():
        scores = scores_by_file[rel]
        if len(scores) != len(f["items"]):
            raise ValueError(f"{rel}: {len(scores)} scores for {len(f['items'])} rows")
        for s, (w, name) in zip(scores, f["items"]):
            if name != "probationary":
                points.append((s, w, name))
    return points


def optimise(points):
    """NAB's sweep: the best (threshold, score, detected windows, fp rows)."""
    windows = {name for _, _, name in points if name is not None}
    parts = {name: -A_FN for name in windows}
    fp_total = 0.0
    total = -A_FN * len(windows)
    detected = fp_rows = 0
    best = (1.1, total, 0, 0)
    threshold = 1.1
    for s, w, name in sorted(points, key=lambda p: p[0], reverse=True):
        if s != threshold:
            if total > best[1]:
                best = (threshold, total, detected, fp_rows)
            threshold = s
        if name is None:
            fp_total += w
            total += w
            fp_rows += 1
        else:
            old = parts[name]
            if old == -A_FN:
                detected += 1
            if w > old:
                parts[name] = w
                total += w - old
    if total > best[1]:
        best = (threshold, total, detected, fp_rows)
    return best


def score_at(points, threshold):
    """The raw score when every row scoring >= threshold is a detection."""
    windows = {name for _, _, name in points if name is not None}
    parts = {name: -A_FN for name in windows}
    fp_total = 0.0
    fp_rows = 0
    for s, w, name in points:
        if s < threshold:
            continue
        if name is None:
            fp_total += w
            fp_rows += 1
        else:
            parts[name] = max(parts[name], w)
    detected = sum(1 for v in parts.values() if v != -A_FN)
    return sum(parts.values()) + fp_total, detected, fp_rows


def detail(corpus, scores_by_file, threshold):
    """Per file: windows detected, false-positive rows, raw contribution."""
    for rel, f in corpus.files.items():
        pts = [(s, w, name) for s, (w, name) in zip(scores_by_file[rel], f["items"])
               if name != "probationary"]
        raw, det, fps = score_at(pts, threshold)
        print(f"    {rel:60} {det}/{len(f['windows'])} fp {fps:4} raw {raw:7.2f}")


def normalise(corpus, raw):
    null = -A_FN * corpus.window_count
    perfect = A_TP * corpus.window_count
    return 100.0 * (raw - null) / (perfect - null)


def read_results(corpus, results_dir, method):
    out = {}
    for rel in corpus.files:
        path = os.path.join(results_dir, method, rel)
        with open(path, newline="") as f:
            reader = csv.reader(f)
            header = next(reader)
            col = header.index("anomaly_score")
            out[rel] = [float(r[col]) for r in reader]
    return out


def selftest(corpus):
    """The scorer's sanity cases: null 0, perfect 100, random low."""
    null = {rel: [0.0] * len(f["timestamps"]) for rel, f in corpus.files.items()}
    perfect = {}
    for rel, f in corpus.files.items():
        s = [0.0] * len(f["timestamps"])
        for a, _ in f["windows"]:
            s[a] = 1.0
        perfect[rel] = s
    late = {}
    for rel, f in corpus.files.items():
        s = [0.0] * len(f["timestamps"])
        for _, b in f["windows"]:
            s[b] = 1.0
        late[rel] = s
    cases = [("null", null), ("perfect (each window's first row)", perfect),
             ("each window's last row", late)]
    for seed in (1, 2, 3):
        rng = random.Random(seed)
        cases.append((f"random (seed {seed})",
                      {rel: [rng.random() for _ in f["timestamps"]]
                       for rel, f in corpus.files.items()}))
    print(f"{'sanity case':40} {'threshold':>9} {'raw':>9} {'score':>7}")
    results = {}
    for label, scores in cases:
        t, raw, _, _ = optimise(score_points(corpus, scores))
        results[label] = normalise(corpus, raw)
        print(f"{label:40} {t:9.4f} {raw:9.2f} {results[label]:7.1f}")
    ok = abs(results["null"]) < 1e-9 and abs(results["perfect (each window's first row)"] - 100) < 1e-9
    ok = ok and all(v < 20 for k, v in results.items() if k.startswith("random"))
    print("sanity:", "ok" if ok else "FAILED")
    return ok


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nab", required=True, help="NAB root (with data/ and labels/)")
    p.add_argument("--results", help="results root: RESULTS/METHOD/<category>/<file>.csv")
    p.add_argument("--methods", help="comma-separated methods (default: every folder)")
    p.add_argument("--firing-line", type=float, default=0.5,
                   help="the detector's own firing line, scored as a fixed threshold")
    p.add_argument("--detail", action="store_true",
                   help="per-file breakdown at each method's optimised threshold")
    p.add_argument("--selftest", action="store_true")
    args = p.parse_args()

    corpus = Corpus(args.nab)
    print(f"NAB: {len(corpus.files)} files, {corpus.window_count} windows, standard profile "
          f"(A_TP={A_TP}, A_FP=-{A_FP}, A_FN=-{A_FN}), probation {PROBATION_PERCENT:.0%}\n")
    if args.selftest:
        sys.exit(0 if selftest(corpus) else 1)
    if not args.results:
        p.error("--results is required unless --selftest")
    methods = (args.methods.split(",") if args.methods
               else sorted(d for d in os.listdir(args.results)
                           if os.path.isdir(os.path.join(args.results, d))))

    print(f"{'method':12} {'threshold':>9} {'raw':>8} {'score':>6} {'windows':>8} {'fp rows':>8}"
          f"   {'at firing line':>14} {'windows':>8} {'fp rows':>8}")
    ours = []
    for m in methods:
        scores = read_results(corpus, args.results, m)
        points = score_points(corpus, scores)
        t, raw, det, fps = optimise(points)
        fraw, fdet, ffps = score_at(points, args.firing_line)
        ours.append((f"escalator {m}", normalise(corpus, raw)))
        print(f"{m:12} {t:9.4f} {raw:8.2f} {normalise(corpus, raw):6.1f} "
              f"{det:4}/{corpus.window_count:<3} {fps:8}   "
              f"{normalise(corpus, fraw):14.1f} {fdet:4}/{corpus.window_count:<3} {ffps:8}")
        if args.detail:
            detail(corpus, scores, t)
    print("\n'threshold' is the optimised one NAB picks for the method over all files;"
          f"\n'at firing line' scores every row >= {args.firing_line} as a detection.")
    print("\nStandard profile, ranked with the published NAB v1.1 scoreboard:")
    for name, s in sorted(SCOREBOARD + ours, key=lambda r: r[1], reverse=True):
        mark = "  <-- this run" if name.startswith("escalator ") else ""
        print(f"  {name:22} {s:6.1f}{mark}")

if __name__ == "__main__":
    main()
