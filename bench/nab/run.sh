#!/usr/bin/env bash
# Runs every detection method of `escalator detect` over all 58 NAB streams,
# then scores them NAB-style (standard profile) with score.py.
#
# Environment: NAB_DIR (default ../shared/data/nab from the repo root),
# CARGO_TARGET_DIR (default the repo's target/), RESULTS_DIR (default
# $CARGO_TARGET_DIR/nab-results), METHODS (default "anomaly zscore threshold"),
# SENSITIVITY (default: the detector's own default, 3.5).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
NAB_DIR="${NAB_DIR:-$repo/../shared/data/nab}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
RESULTS_DIR="${RESULTS_DIR:-$CARGO_TARGET_DIR/nab-results}"
METHODS="${METHODS:-anomaly zscore threshold}"

if [ ! -f "$NAB_DIR/labels/combined_windows.json" ]; then
    echo "no NAB data at $NAB_DIR (set NAB_DIR)" >&2
    exit 1
fi

(cd "$repo" && cargo build --release --quiet -p escalator-cli)
bin="$CARGO_TARGET_DIR/release/escalator"

# The static-threshold baseline needs a line per stream, but nobody may tune
# per stream: one rule for all, "outside the range seen during the
# probationary rows (which NAB does not score), for 5m".
probation_range() {
    awk -F, -v n="$(($(wc -l <"$1") - 1))" '
        BEGIN { p = int(0.15 * n); if (p > 750) p = 750 }
        NR > 1 && NR <= p + 1 {
            if (lo == "" || $2 + 0 < lo) lo = $2 + 0
            if (hi == "" || $2 + 0 > hi) hi = $2 + 0
        }
        END { print lo, hi }' "$1"
}

start=$(date +%s)
for method in $METHODS; do
    for csv in "$NAB_DIR"/data/*/*.csv; do
        rel="${csv#"$NAB_DIR"/data/}"
        out="$RESULTS_DIR/$method/$rel"
        mkdir -p "$(dirname "$out")"
        args=()
        case "$method" in
            threshold)
                read -r lo hi < <(probation_range "$csv")
                args=(--above "$hi" --below "$lo" --for 5m)
                ;;
            anomaly)
                if [ -n "${SENSITIVITY:-}" ]; then args=(--sensitivity "$SENSITIVITY"); fi
                ;;
        esac
        "$bin" detect --method "$method" "${args[@]}" --input "$csv" --output "$out"
    done
done
echo "detection: $(($(date +%s) - start))s for $(echo "$METHODS" | wc -w) method(s) x 58 streams"
echo

python3 "$here/score.py" --nab "$NAB_DIR" --results "$RESULTS_DIR" --methods "${METHODS// /,}"
