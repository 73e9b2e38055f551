#!/usr/bin/env bash
# The language server's soak test, long: the seeded random editing session of tests/lsp_soak.rs (typing, pastes,
# deletions, undo, syntax breaks and repairs, saves, closing and reopening, helpers and config changed on disk, code
# actions, cancellations and resolves) against the release binary over stdio, its published diagnostics compared with
# `asynclint check` at every quiet point. CI runs the test's short default (200 steps, one fixed seed); this runs many
# more steps, with a new seed each time unless given one. A failure prints the seed and the step to replay, and where
# the transcript of every message sent was written.
#
#   bench/lsp_soak.sh [STEPS] [SEED]      (default 5000 steps, a seed from the clock)
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-5000}
seed=${2:-$(date +%s)}
echo "lsp_soak: $steps steps, seed $seed (replay: bench/lsp_soak.sh $steps $seed)"
ASYNCLINT_SOAK_STEPS=$steps ASYNCLINT_SOAK_SEED=$seed cargo test --release --locked --test lsp_soak -- --nocapture
