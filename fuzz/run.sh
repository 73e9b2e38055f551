#!/usr/bin/env bash
# Runs the fuzz targets. Three modes:
#
#   fuzz/run.sh [SECONDS_PER_TARGET]
#       CI mode (default 25 s; `tests/run` uses the default): each target fuzzes for that long, starting from the
#       fixtures (seed.py) and the committed minimised corpus in corpus-min/TARGET/ (read, never written).
#
#   fuzz/run.sh --runs N [--max-time SECONDS] [TARGET...]
#       Campaign mode, run by hand, not by CI: each target (all by default) fuzzes until N executions (libFuzzer
#       -runs=N), or SECONDS if given, from the same seeds; then it is merged as by --merge. A per-target summary ends
#       the run; full logs are in fuzz/logs/TARGET.log (not committed). A crash does not stop the other targets, but
#       the run then fails.
#
#   fuzz/run.sh --merge [TARGET...]
#       Only the merge, which produces the committed corpus: libFuzzer's -merge=1 -set_cover_merge=1 runs every input
#       of corpus/TARGET/ and corpus-min/TARGET/, cut to merge_len bytes (below), and keeps, cut, a small set of them
#       that together has all their coverage features, files named by their SHA-1, in a fresh folder that replaces
#       corpus-min/TARGET/ (commit that folder). The log is fuzz/logs/TARGET.merge.log.
#
# When fuzzing, new inputs go to fuzz/corpus/TARGET/ (not committed) and a crash leaves its input in
# fuzz/artifacts/TARGET/. Every mode first replays each kept regression in fuzz/regressions/TARGET/; once a crash is
# fixed, keep its input there.
set -euo pipefail
cd "$(dirname "$0")"

targets=(analyze fix_all incremental_edits lsp_messages lsp_stream)
# The longest input per target. The analysis targets re-parse the whole text again and again when it has syntax
# errors, as fuzzed text mostly has: analyze and fix_all for every fix they check, incremental_edits after each of up
# to 32 edits. Their time per input grows with its length (analyze: about 6 ms at 1 KB, 65 ms at 4 KB, 0.8 s at
# 16 KB). incremental_edits takes up to 2 KB (about 233 executions/s alone). analyze and fix_all take up to 1 KB: at
# 2 KB, run side by side on the shared 2-core machine, they managed 150-170 executions/s in their first minute, too
# slow for a campaign of a million in about 75 minutes. The LSP targets take up to 64 KB.
declare -A max_len=([analyze]=1024 [fix_all]=1024 [incremental_edits]=2048)
# The longest input the committed corpus keeps, by default the target's max_len. The committed corpus is meant to stay
# under about 4 MB of file content in all (the analysis targets take about 2.7 MB of it). lsp_messages inputs, mostly
# whole fixture files in JSON, are cut to 1 KB, for the budget: after its 1M-execution campaign a plain merge kept
# 4,074 inputs, 9.8 MB, uncut; cut to 4 KB the set-cover merge still kept 2,228, 5.8 MB (11,770 edges); cut to 1 KB
# it keeps 1,119, 1.0 MB (10,288 edges, 87% of those). lsp_stream inputs are all shorter than 4 KB: its cut changes
# nothing.
declare -A merge_len=([lsp_messages]=1024 [lsp_stream]=4096)
options=(-timeout=20 -rss_limit_mb=4096 -print_final_stats=1)

runs=""
max_time=""
merge_only=""
seconds=25
if [[ "${1:-}" == "--merge" ]]; then
    merge_only=1
    shift
    [[ $# -gt 0 ]] && targets=("$@")
elif [[ "${1:-}" == "--runs" ]]; then
    runs="${2:?--runs needs a number of executions}"
    shift 2
    if [[ "${1:-}" == "--max-time" ]]; then
        max_time="${2:?--max-time needs seconds}"
        shift 2
    fi
    [[ $# -gt 0 ]] && targets=("$@")
elif [[ $# -gt 0 ]]; then
    seconds="$1"
fi

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

# The corpus folders of a target: the first receives new inputs, the committed one only seeds.
corpora() {
    mkdir -p "corpus/$1"
    echo "corpus/$1"
    if [[ -d "corpus-min/$1" ]]; then echo "corpus-min/$1"; fi
}

# "FILES files, BYTES bytes" in the given folders.
size() {
    find "$@" -type f -printf '%s\n' | awk '{ bytes += $1 } END { printf "%d files, %d bytes", NR, bytes }'
}

# A libFuzzer final statistic from a log, "?" if the log has none (the fuzzer was killed).
final_stat() {
    grep -E "^stat::$1:" "$2" | awk '{ print $2 }' | grep . || echo "?"
}

# Replaces corpus-min/TARGET/ by the merge of corpus/TARGET/ and corpus-min/TARGET/, as described at the top.
merge() {
    local target="$1" fresh folders
    mapfile -t folders < <(corpora "$target")
    fresh="$(mktemp -d "corpus-min.$target.XXXXXX")"
    cargo fuzz run -s none "$target" "$fresh" "${folders[@]}" -- -merge=1 -set_cover_merge=1 \
        -max_len="${merge_len[$target]:-${max_len[$target]:-65536}}" -timeout=20 -rss_limit_mb=4096 \
        >"logs/$target.merge.log" 2>&1
    mkdir -p corpus-min
    rm -rf "corpus-min/$target"
    mv "$fresh" "corpus-min/$target"
    chmod 755 "corpus-min/$target"
}

if [[ -z "$runs" && -z "$merge_only" ]]; then
    for target in "${targets[@]}"; do
        echo "fuzzing $target for ${seconds}s"
        log="$(mktemp)"
        mapfile -t folders < <(corpora "$target")
        if ! cargo fuzz run -s none "$target" "${folders[@]}" -- -max_total_time="$seconds" \
            -max_len="${max_len[$target]:-65536}" "${options[@]}" >"$log" 2>&1; then
            tail -n 40 "$log"
            echo "fuzz target $target failed; its input is in fuzz/artifacts/$target"
            exit 1
        fi
        grep -E "^stat::(number_of_executed_units|peak_rss_mb)" "$log"
        rm -f "$log"
    done
    exit 0
fi

mkdir -p logs
if [[ -n "$merge_only" ]]; then
    for target in "${targets[@]}"; do
        mapfile -t folders < <(corpora "$target")
        before="$(size "${folders[@]}")"
        merge "$target"
        echo "$target: merged $before into $(size "corpus-min/$target")," \
            "inputs cut to ${merge_len[$target]:-${max_len[$target]:-65536}} bytes"
    done
    exit 0
fi

summary=()
failed=0
for target in "${targets[@]}"; do
    log="logs/$target.log"
    mapfile -t folders < <(corpora "$target")
    limits=(-runs="$runs" -max_len="${max_len[$target]:-65536}")
    [[ -n "$max_time" ]] && limits+=(-max_total_time="$max_time")
    echo "fuzzing $target: ${limits[*]}, from ${folders[*]} ($(size "${folders[@]}"))"
    start=$(date +%s)
    outcome=ok
    if ! cargo fuzz run -s none "$target" "${folders[@]}" -- "${limits[@]}" "${options[@]}" >"$log" 2>&1; then
        outcome="FAILED ($(grep -m1 -oE '(crash|timeout|oom|leak|slow-unit)-[0-9a-f]+' "$log" || echo 'see log'))"
        failed=1
        tail -n 40 "$log"
    fi
    wall=$(($(date +%s) - start))
    before="$(size "${folders[@]}")"
    merge "$target"
    line="$target: $(final_stat number_of_executed_units "$log") executions, $(final_stat average_exec_per_sec "$log") exec/s,"
    line+=" ${wall}s, peak RSS $(final_stat peak_rss_mb "$log") MB; corpus $before before the merge,"
    line+=" $(size "corpus-min/$target") after; $outcome"
    echo "$line"
    summary+=("$line")
done
printf '%s\n' "campaign summary (-runs=$runs${max_time:+, -max_total_time=$max_time}):" "${summary[@]}"
exit "$failed"
