#!/usr/bin/env bash
# Cross-builds the addon for one release target on this Linux x86_64 machine and checks it:
#
#   bash scripts/cross.sh <rust-target>
#     -> artifacts/bindings-<platform>/codex-native.<platform>.node  (then scripts/check-artifact.py)
#
# How and why (Debian rustc-web + -Zbuild-std, zig as linker): /work/shared/CROSS-BUILD.md and
# scripts/cross/toolchain.sh. Builds go to target/cross so they never wait on the main build.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  echo "usage: bash scripts/cross.sh <rust-target>" >&2
  echo "  rust-target: one of the package.json napi targets:" >&2
  echo "  x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu x86_64-unknown-linux-musl aarch64-unknown-linux-musl" >&2
  echo "  aarch64-apple-darwin x86_64-apple-darwin x86_64-pc-windows-msvc aarch64-pc-windows-msvc" >&2
  exit 2
}
[[ $# -eq 1 ]] || usage
target="$1"

bash scripts/cross/toolchain.sh
. scripts/cross/env.sh
# CI points this into its cache (scripts/ci-cross.sh): std built from source is then reused.
export CARGO_TARGET_DIR="${CODEX_NATIVE_CROSS_TARGET_DIR:-$PWD/target/cross}"

# zig_target: what cargo-zigbuild gets (a glibc suffix sets the floor); build_target: the rust
# target it compiles for; lib: the cdylib's file name; std: build std from source or not.
env_vars=()
std=("${BUILD_STD[@]}")
case "$target" in
  x86_64-unknown-linux-gnu)
    # rustup ships this std, so the stable toolchain builds it as is (no -Zbuild-std: faster),
    # and zig links it against glibc 2.17 like the other Linux builds; `napi build` links
    # against the build machine's glibc (2.34+ needed), which is what this replaces.
    platform=linux-x64-gnu; zig_target=$target.2.17; lib=libcodex_native.so
    unset RUSTC RUSTC_BOOTSTRAP; std=() ;;
  aarch64-unknown-linux-gnu)
    platform=linux-arm64-gnu; zig_target=$target.2.17; lib=libcodex_native.so ;;
  x86_64-unknown-linux-musl | aarch64-unknown-linux-musl)
    # musl targets default to static executables; an addon must be a shared library that uses
    # the musl libc of the node process loading it.
    platform=linux-${target%%-*}-musl; platform=${platform/x86_64/x64}; platform=${platform/aarch64/arm64}
    zig_target=$target; lib=libcodex_native.so
    env_vars+=(RUSTFLAGS="-C target-feature=-crt-static") ;;
  aarch64-apple-darwin)
    platform=darwin-arm64; zig_target=$target; lib=libcodex_native.dylib
    env_vars+=(MACOSX_DEPLOYMENT_TARGET=11.0) ;;
  x86_64-apple-darwin)
    platform=darwin-x64; zig_target=$target; lib=libcodex_native.dylib
    env_vars+=(MACOSX_DEPLOYMENT_TARGET=10.13) ;;
  x86_64-pc-windows-msvc)
    # The MSVC CRT cannot be had here: build the GNU ABI instead. With napi's dyn-symbols
    # (Cargo.toml, windows only) it imports no node symbols at link time and loads in the
    # official (MSVC) node.exe. The release pipeline builds the real MSVC one on Windows.
    platform=win32-x64-msvc; zig_target=x86_64-pc-windows-gnu; lib=codex_native.dll
    # mimalloc's C uses __DATE__; zig's clang makes that an error on Windows targets.
    env_vars+=(LIBNODE_PATH="$XB/libnode-stub" CFLAGS_x86_64_pc_windows_gnu=-Wno-error=date-time) ;;
  aarch64-pc-windows-msvc)
    platform=win32-arm64-msvc; zig_target=aarch64-pc-windows-gnullvm; lib=codex_native.dll
    env_vars+=(LIBNODE_PATH="$XB/libnode-stub" CFLAGS_aarch64_pc_windows_gnullvm=-Wno-error=date-time) ;;
  *) echo "cross.sh: unknown target '$target'" >&2; usage ;;
esac
build_target=${zig_target%.2.17}

echo "cross.sh: building $target as $zig_target (${RUSTC:-rustup stable})" >&2
start=$SECONDS
env "${env_vars[@]}" cargo zigbuild --locked --release "${std[@]}" --target "$zig_target" --lib -p codex-native >&2
echo "cross.sh: cargo zigbuild took $((SECONDS - start)) s" >&2

out="artifacts/bindings-$platform/codex-native.$platform.node"
mkdir -p "$(dirname "$out")"
cp "$CARGO_TARGET_DIR/$build_target/release/$lib" "$out"
"$VENV/bin/python" scripts/check-artifact.py "$out" "$target"
echo "$out"
