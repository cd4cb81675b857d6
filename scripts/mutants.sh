#!/usr/bin/env bash
# Mutation testing of the core crate (cargo-mutants): each mutant is a small change to one
# function (a return value replaced, an operator flipped, a match arm deleted); the core's tests
# must fail for it. Not part of CI: on 2 cores a mutant costs about a minute (an incremental
# build, six test binaries relinked, the tests), and the six modules below hold ~325 of them.
# Results and the reasons for the mutants left alive: crates/app-server-client/MUTANTS.md.
#
#   bash scripts/mutants.sh                      # router turn server_request approval connection process
#   MUTANTS_MODULES="router turn" bash scripts/mutants.sh
#   bash scripts/mutants.sh --re 'Routes::route'  # further cargo-mutants arguments
#
# Output: target/mutants/mutants.out/ (or $MUTANTS_OUT/mutants.out/) (caught.txt, missed.txt, timeout.txt, unviable.txt).
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${CODEX_NATIVE_CACHE:-$HOME/.cache/codex-native}"
TOOLS="$CACHE/cargo-tools"
VERSION=27.1.0
# (`cargo-mutants --version` prints to stderr)
if [[ "$("$TOOLS/bin/cargo-mutants" --version 2>&1)" != "cargo-mutants $VERSION" ]]; then
  cargo install cargo-mutants --locked --version "$VERSION" --root "$TOOLS"
fi
export PATH="$TOOLS/bin:$PATH"

modules="${MUTANTS_MODULES:-router turn server_request approval connection process}"
files=()
for m in $modules; do files+=(--file "crates/app-server-client/src/$m.rs"); done

# The tests that exercise these modules without the pinned codex (the copy cargo-mutants builds
# in has no node_modules): unit tests, the scripted peer, the fuzzer (at its CI scale) and
# containment, the child's own reporting, and threads (joining, thread events, restarts).
# ws_transport and discovery test other modules.
cargo mutants -p app-server-client "${files[@]}" \
  --jobs "${MUTANTS_JOBS:-1}" --timeout "${MUTANTS_TIMEOUT:-90}" --build-timeout 900 \
  --output "${MUTANTS_OUT:-target/mutants}" \
  --cargo-test-arg=--lib --cargo-test-arg=--test=fake_peer --cargo-test-arg=--test=fuzz \
  --cargo-test-arg=--test=containment --cargo-test-arg=--test=child --cargo-test-arg=--test=threads \
  "$@"
