#!/usr/bin/env bash
# Builds the extension (.vsix) with the release server binary bundled in bin/: npm deps (from the lockfile), the
# TypeScript, the unit tests, then `vsce package`. Usage: editors/vscode/build.sh [path/to/asynclint]
set -euo pipefail
cd "$(dirname "$0")"
binary="${1:-}"
if [ -z "$binary" ]; then
    (cd ../.. && cargo build --release --locked)
    binary=../../target/release/asynclint
fi
[ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund
npx tsc -p .
node --test out/test/
mkdir -p bin && cp "$binary" bin/asynclint
npx vsce package --allow-missing-repository --skip-license -o asynclint.vsix
