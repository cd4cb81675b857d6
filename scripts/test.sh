#!/usr/bin/env bash
# The whole test suite: Rust core tests, then the addon's tests against the real codex.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
timeout 900 cargo test --locked -p app-server-client
pnpm test
