# Sourced: where the cross tooling lives. Everything is cached outside the repo so a fresh
# clone (CI) reuses it; CODEX_NATIVE_CACHE moves the whole cache.
CACHE="${CODEX_NATIVE_CACHE:-$HOME/.cache/codex-native}"
XB="$CACHE/cross"     # Debian rustc tree, libnode stub, foreign nodes, sysroots
VENV="$CACHE/venv"    # shared Python venv of the project's tools
mkdir -p "$XB"
