#!/bin/sh
# Lays out the peers' test files for recall.sh, outside this repository:
#   bench/peers/extract.sh RUFF_GIT_DIR FLAKE8_ASYNC_GIT_DIR PYRIGHT_GIT_DIR OUT_DIR
# Each *_GIT_DIR is a clone's git directory (bare is fine); HEAD is read. Measured at ruff fca5c7cf,
# flake8-async c695f61d, pyright 93a6550b.
set -eu
[ $# -eq 4 ] || { echo "usage: $0 RUFF_GIT FLAKE8_ASYNC_GIT PYRIGHT_GIT OUT" >&2; exit 2; }
ruff=$1 f8=$2 pyright=$3 out=$4
mkdir -p "$out/ruff/fixtures" "$out/ruff/snapshots" "$out/flake8-async" "$out/pyright"
show() { git --git-dir="$1" show "HEAD:$2" > "$3"; }
for f in $(git --git-dir="$ruff" ls-tree --name-only HEAD crates/ruff_linter/resources/test/fixtures/flake8_async/) \
         crates/ruff_linter/resources/test/fixtures/ruff/RUF006.py; do
  show "$ruff" "$f" "$out/ruff/fixtures/$(basename "$f")"
done
for f in $(git --git-dir="$ruff" ls-tree --name-only HEAD crates/ruff_linter/src/rules/flake8_async/snapshots/) \
         crates/ruff_linter/src/rules/ruff/snapshots/ruff_linter__rules__ruff__tests__RUF006_RUF006.py.snap; do
  show "$ruff" "$f" "$out/ruff/snapshots/$(basename "$f")"
done
for f in $(git --git-dir="$f8" ls-tree --name-only HEAD tests/eval_files/ | grep -E '/async(2[^/]*|300)\.py$'); do
  show "$f8" "$f" "$out/flake8-async/$(basename "$f")"
done
show "$pyright" packages/pyright-internal/src/tests/samples/unusedCoroutine1.py "$out/pyright/unusedCoroutine1.py"
for d in "$ruff" "$f8" "$pyright"; do echo "$d $(git --git-dir="$d" rev-parse HEAD)"; done
