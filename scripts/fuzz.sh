#!/usr/bin/env bash
# Long fuzzing runs of every parser that takes outside input (README: Fuzzing).
#
#   scripts/fuzz.sh                 both phases with the defaults below
#   scripts/fuzz.sh props           only the property-based fuzzers
#   scripts/fuzz.sh libfuzzer       only the coverage-guided targets
#
# PROPTEST_CASES  cases per property of core's fuzzers, in a release build
#                 (default 20000; CI's `cargo test` runs 64-256)
# SERVER_CASES    cases per property of the Slack and Twilio fuzzers and per
#                 endpoint of the HTTP fuzzer, in the debug build, whose
#                 overflow checks are on (default 5000)
# FUZZ_SECONDS    seconds per libFuzzer target (default 300)
# FUZZ_TARGET_DIR where cargo fuzz builds (default fuzz/target)
#
# The coverage-guided phase needs cargo-fuzz (`cargo install cargo-fuzz`)
# and `-Z` flags: a nightly toolchain when rustup has one, otherwise the
# stable one with RUSTC_BOOTSTRAP=1. Crashes land in fuzz/artifacts/TARGET/;
# reproduce one with `cargo +nightly fuzz run TARGET FILE`, then make it a
# named test (crates/core/tests/fuzz/regressions.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

phase="${1:-all}"
cases="${PROPTEST_CASES:-20000}"
server_cases="${SERVER_CASES:-5000}"
seconds="${FUZZ_SECONDS:-300}"
export ESCALATOR_TEST_DATABASE_URL="${ESCALATOR_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
status=0

props() {
    echo "== core's property-based fuzzers: $cases cases per property (release)"
    local start=$SECONDS
    PROPTEST_CASES="$cases" cargo test --release -p escalator-core --test fuzz || status=1
    echo "== Slack, Twilio and HTTP fuzzers: $server_cases cases each (debug)"
    PROPTEST_CASES="$server_cases" cargo test -p escalator-server --lib fuzz || status=1
    PROPTEST_CASES="$server_cases" cargo test -p escalator-cli --test fuzz_http -- --nocapture || status=1
    echo "== property-based fuzzers took $((SECONDS - start)) s"
}

libfuzzer() {
    if ! command -v cargo-fuzz >/dev/null; then
        echo "== cargo-fuzz is not installed (cargo install cargo-fuzz): coverage-guided phase skipped"
        return
    fi
    local cargo=(cargo)
    if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
        cargo=(cargo +nightly)
    else
        export RUSTC_BOOTSTRAP=1
    fi
    # Limits per target: inputs short enough to stay clear of the known
    # stack overflow of long CEL chains (regressions.rs), memory past which
    # an input counts as a crash.
    declare -A max_len=([events_v2]=65536 [config]=65536 [cel]=512 [templates]=4096)
    for target in events_v2 config cel templates; do
        echo "== libFuzzer: $target for $seconds s"
        mkdir -p "fuzz/corpus/$target"
        (cd fuzz && "${cargo[@]}" fuzz run -O ${FUZZ_TARGET_DIR:+--target-dir "$FUZZ_TARGET_DIR"} \
            "$target" "corpus/$target" "seeds/$target" -- \
            -max_total_time="$seconds" -max_len="${max_len[$target]}" \
            -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 -print_final_stats=1) || status=1
    done
}

case "$phase" in
    props) props ;;
    libfuzzer) libfuzzer ;;
    all) props; libfuzzer ;;
    *) echo "usage: $0 [props|libfuzzer|all]" >&2; exit 2 ;;
esac
exit "$status"
