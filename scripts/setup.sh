#!/usr/bin/env bash
# Installs what the project needs on a fresh machine (Node 20 + Rust present): pnpm, the
# locked dependencies (including the pinned @openai/codex), and the release build of the addon.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v pnpm >/dev/null 2>&1 || [[ "$(pnpm --version 2>/dev/null)" != 10.* ]]; then
  npm install -g pnpm@10 >/dev/null
fi
# actionlint + shellcheck for __test__/workflows.test.js (shared tool venv; silent when present).
bash scripts/install-tools.sh
pnpm install --frozen-lockfile
pnpm build
