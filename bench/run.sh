#!/usr/bin/env bash
# Benchmarks asynclint against ruff on a pinned corpus of real async projects (about 11,000 files, 1.9M lines),
# without and with each tool's cache; then the parser's own cost, the floor under both asynclint figures (parsing the
# corpus and nothing else; re-parsing after a keystroke); then the language server's keystroke latency (alone, and with
# Home Assistant indexed as the workspace) and a cold and a warm workspace index of Home Assistant.
#
#   bench/run.sh [RUNS]        (default 5 runs of each checker, alternating)
#
# The corpus and a venv with pinned ruff live in ${ASYNCLINT_BENCH_CACHE:-~/.cache/asynclint-bench}, outside the repo.
set -euo pipefail
cd "$(dirname "$0")/.."
# The corpus has no environment of its own: an activated one ($VIRTUAL_ENV) must not add its dependencies to the
# figures, which compare with ruff (that follows none).
unset VIRTUAL_ENV
runs=${1:-5}
cache=${ASYNCLINT_BENCH_CACHE:-$HOME/.cache/asynclint-bench}
corpus="$cache/corpus"
mkdir -p "$cache/wheels" "$corpus"

command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time; }
[ -x "$cache/venv/bin/ruff" ] || { python3 -m venv "$cache/venv" && "$cache/venv/bin/pip" install -q ruff==0.17.5; }

wheels=(aiohttp==3.14.5 aiogram==3.31.0 fastapi==0.163.2 starlette==1.10.0 sanic==25.12.1 telethon==1.45.0
        prefect==3.9.1 redis==8.1.0 tornado==6.6.1)
fetch() { # NAME==VERSION [pip options...]
  local spec=$1 name=${1%%==*}; shift
  [ -d "$corpus/$name" ] && return
  local dir; dir=$(mktemp -d)
  "$cache/venv/bin/pip" download -q --no-deps --only-binary :all: "$@" -d "$dir" "$spec"
  mkdir -p "$corpus/$name.partial"
  (cd "$corpus/$name.partial" && unzip -qo "$dir"/*.whl '*.py')
  mv "$corpus/$name.partial" "$corpus/$name"
  rm -rf "$dir"
}
for spec in "${wheels[@]}"; do fetch "$spec"; done
fetch homeassistant==2026.2.3 --python-version 3.13.2
echo "corpus: $(find -L "$corpus" -name '*.py' | wc -l) files, $(find -L "$corpus" -name '*.py' -exec cat {} + | wc -l) lines"

cargo build --release --quiet --bin asynclint --example lsp_latency --example index_time --example parse_floor
asynclint=$PWD/target/release/asynclint
ruff=$cache/venv/bin/ruff

measure() { # LABEL COMMAND...: appends "wall user+sys rss_kb" to $cache/LABEL.times
  local label=$1; shift
  ( cd "$corpus" && /usr/bin/time -f "%e %U %S %M" -o "$cache/$label.last" "$@" >/dev/null 2>&1 || true )
  # GNU time puts "Command exited with non-zero status 1" (there are findings) before the figures: keep the last line.
  tail -n 1 "$cache/$label.last" | awk '{ printf "%s %.2f %s\n", $1, $2 + $3, $4 }' >> "$cache/$label.times"
}
rm -f "$cache"/*.times
# Cold: neither tool reads a cache. Warm: each reads the cache its previous run wrote, the tree unchanged, as on a
# developer's second run; the caches live in the corpus (.asynclint_cache, .ruff_cache) and are primed first.
(cd "$corpus" && "$asynclint" check --output-format json . >/dev/null 2>&1 || true)
(cd "$corpus" && "$ruff" check --isolated --select ASYNC,RUF006 --preview --output-format json . >/dev/null 2>&1 || true)
for _ in $(seq "$runs"); do
  measure asynclint "$asynclint" check --no-cache --output-format json .
  measure ruff "$ruff" check --no-cache --isolated --select ASYNC,RUF006 --preview --output-format json .
  measure asynclint_warm "$asynclint" check --output-format json .
  measure ruff_warm "$ruff" check --isolated --select ASYNC,RUF006 --preview --output-format json .
done
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
report() {
  local label=$1
  wall=$(cut -d' ' -f1 "$cache/$label.times" | median)
  cpu=$(cut -d' ' -f2 "$cache/$label.times" | median)
  rss=$(cut -d' ' -f3 "$cache/$label.times" | median)
  printf '%-15s median wall %6.2f s   user+sys %6.2f s   peak RSS %6.0f MB\n' "$label" "$wall" "$cpu" "$(echo "$rss / 1024" | bc -l)"
  eval "${label}_wall=$wall"
}
echo "$runs runs each on $(nproc) cores:"
report asynclint
report ruff
printf 'ratio asynclint/ruff (wall, no cache): %.2f\n' "$(echo "$asynclint_wall / $ruff_wall" | bc -l)"
report asynclint_warm
report ruff_warm
printf 'ratio asynclint/ruff (wall, warm cache): %.2f\n' "$(echo "$asynclint_warm_wall / $ruff_warm_wall" | bc -l)"

./target/release/examples/parse_floor "$corpus"
./target/release/examples/lsp_latency 1000 5000
./target/release/examples/lsp_latency 1000 5000 "$corpus/homeassistant"
./target/release/examples/index_time "$corpus/homeassistant"
