#!/usr/bin/env bash
# Installs code-server (the real VS Code UI, served to a browser) from the npm registry, offline-friendly, into
# DEST (default: target/editors/code-server). Idempotent: does nothing when that version is already there.
# code-server 4.100.3 (VS Code 1.100.3) is the newest that runs on node 20. Its own postinstall refuses root and
# downloads from GitHub, so the steps it would take are done here by hand.
# Needs apt: build-essential python3 pkg-config libkrb5-dev ripgrep (node-gyp builds the native modules).
set -euo pipefail
version="${CS_VERSION:-4.100.3}"
DEST="${1:-$(cd "$(dirname "$0")/../../.." && pwd)/target/editors/code-server}"
if [ -x "$DEST/node_modules/.bin/code-server" ] && [ "$("$DEST/node_modules/.bin/code-server" --version 2>/dev/null | head -n1 | cut -d' ' -f1)" = "$version" ]; then
    exit 0
fi
mkdir -p "$DEST" && cd "$DEST"
[ -f package.json ] || echo '{"name":"code-server-harness","private":true}' > package.json
export npm_config_yes=true   # node-pty's install step runs `npx node-gyp`
npm install --no-audit --no-fund "code-server@$version" --ignore-scripts
npm rebuild argon2           # its prebuilt binary comes from GitHub; this builds it from source
cd node_modules/code-server/lib/vscode
npm install --omit=dev --ignore-scripts --no-audit --no-fund
mkdir -p node_modules/@vscode/ripgrep/bin && cp "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg
npm rebuild                  # node-pty, spdlog, kerberos, watcher, ... with node-gyp
ln -sfn node_modules node_modules.asar
(cd bin/remote-cli && ln -sfn code-linux.sh code-server)
(cd bin/helpers && ln -sfn browser-linux.sh browser.sh)
(cd extensions && npm install --omit=dev --no-audit --no-fund)
"$DEST/node_modules/.bin/code-server" --version
