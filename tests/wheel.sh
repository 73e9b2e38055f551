#!/usr/bin/env bash
# Packaging test: builds the wheel with maturin, installs it into a fresh virtualenv with no index, and runs the
# installed `asynclint` (--version, a check with a finding, a clean check). Then runs the pre-commit hook from this
# repository on a file. Work files live in target/packaging (rebuilt each run; the build venv is reused).
set -euo pipefail
cd "$(dirname "$0")/.."
work="target/packaging"
python3 -m venv --help >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq python3-venv; }
[ -x "$work/tools/bin/maturin" ] || {
    python3 -m venv "$work/tools"
    "$work/tools/bin/pip" install -q "maturin>=1.9,<2" "pre-commit>=4,<5"
}
rm -rf "$work/dist" "$work/venv" "$work/project"
"$work/tools/bin/maturin" build --release --quiet --out "$work/dist"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q --no-index "$work"/dist/asynclint-*.whl

version="$("$work/venv/bin/asynclint" --version)"
[ "$version" = "asynclint $(sed -n 's/^version = "\(.*\)"/\1/p' server/Cargo.toml | head -n1)" ] || {
    echo "unexpected version: $version"; exit 1; }

mkdir -p "$work/project"
printf 'import time\n\n\nasync def main():\n    time.sleep(1)\n' > "$work/project/app.py"
status=0
(cd "$work/project" && ../venv/bin/asynclint check --output-format concise) > "$work/check.txt" || status=$?
[ "$status" -eq 1 ] && grep -q "app.py:5:5: AL101" "$work/check.txt" || {
    echo "the installed asynclint did not report the finding (exit $status):"; cat "$work/check.txt"; exit 1; }
printf 'x = 1\n' > "$work/project/app.py"
(cd "$work/project" && ../venv/bin/asynclint check --quiet)
echo "wheel: $(basename "$work"/dist/*.whl) installs and runs ($version)"

# The pre-commit hook, from this repository, fixes a file in a git repository.
"$work/tools/bin/pre-commit" validate-manifest .pre-commit-hooks.yaml
rm -rf "$work/hooked"
mkdir -p "$work/hooked"
printf 'import time\n\n\nasync def main():\n    time.sleep(1)\n' > "$work/hooked/app.py"
git -C "$work/hooked" init -q
git -C "$work/hooked" add app.py
repository="$(pwd)"
status=0
(cd "$work/hooked" && PRE_COMMIT_HOME="$repository/$work/pre-commit-home" \
    "$repository/$work/tools/bin/pre-commit" try-repo "$repository" asynclint --files app.py) > "$work/hook.txt" 2>&1 ||
    status=$?
# pre-commit fails a hook that changed files; the file must now hold the fix.
grep -q "await asyncio.sleep(1)" "$work/hooked/app.py" || {
    echo "the pre-commit hook did not fix the file (exit $status):"; cat "$work/hook.txt"; exit 1; }
echo "pre-commit: the asynclint hook fixed app.py"
