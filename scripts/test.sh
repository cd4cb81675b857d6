#!/usr/bin/env bash
# The whole test suite: Rust core tests, the addon's tests against the real codex, then the
# package installed from its tarball as a user would (Node 20/22/24, TypeScript 5/7, ESM/CJS).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
timeout 900 cargo test --locked -p app-server-client
pnpm test
pnpm test:pack
