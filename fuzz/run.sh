#!/usr/bin/env bash
# Runs every fuzz target for a bounded time: `fuzz/run.sh [SECONDS_PER_TARGET]` (default 25; CI uses the default).
# Corpora are seeded from the fixtures on each run and kept in fuzz/corpus (not committed); a crash fails the run and
# leaves its input in fuzz/artifacts/TARGET/; once fixed, keep it in fuzz/regressions/TARGET/ (replayed first).
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-25}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
# `-s none`: coverage-guided without AddressSanitizer, so the stable toolchain builds it (the targets are safe Rust).
cargo fuzz build -s none
python3 seed.py
# Every crash found so far, kept in regressions/TARGET/, must stay fixed.
for folder in regressions/*/; do
    target="$(basename "$folder")"
    echo "replaying the $target regressions"
    cargo fuzz run -s none "$target" "$folder"* -- -runs=1 >/dev/null 2>&1 || {
        echo "a kept regression of $target fails again"; cargo fuzz run -s none "$target" "$folder"* -- -runs=1; exit 1; }
done
for target in analyze fix_all incremental_edits lsp_messages lsp_stream; do
    echo "fuzzing $target for ${seconds}s"
    log="$(mktemp)"
    mkdir -p "corpus/$target"
    if ! cargo fuzz run -s none "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 >"$log" 2>&1; then
        tail -n 40 "$log"
        echo "fuzz target $target failed; its input is in fuzz/artifacts/$target"
        exit 1
    fi
    grep -E "^stat::(number_of_executed_units|peak_rss_mb)" "$log"
    rm -f "$log"
done
