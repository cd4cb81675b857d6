#!/usr/bin/env bash
# An offline demo turn: the real codex app-server, a loopback model stand-in, this package.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
pnpm example:quickstart
