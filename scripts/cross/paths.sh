# Sourced: where the cross tooling lives. Everything is cached outside the repo so a fresh
# clone (CI) reuses it; CODEX_NATIVE_CACHE moves the whole cache.
CACHE="${CODEX_NATIVE_CACHE:-$HOME/.cache/codex-native}"
XB="$CACHE/cross"     # Debian rustc tree, libnode stub, foreign nodes, sysroots
VENV="$CACHE/venv"    # shared Python venv of the project's tools
mkdir -p "$XB"
# zig's own cache (libc stubs and CRT objects it builds once per target), kept with the rest.
export ZIG_GLOBAL_CACHE_DIR="$XB/zig-cache"
