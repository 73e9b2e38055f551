#!/bin/sh
# Recall against the peers' test suites: bench/peers/recall.sh SUITES_DIR (layout in recall.py's docstring).
# ASYNCLINT names the binary (default target/release/asynclint); VERBOSE=1 also lists the judged extra findings.
exec python3 "$(dirname "$0")/recall.py" "$@"
