# Sourced after scripts/cross/toolchain.sh: puts cargo-zigbuild and zig on PATH and selects
# Debian's rustc-web, whose rust-src lets cargo build std for targets rustup has no std for
# here (-Zbuild-std is unstable, hence RUSTC_BOOTSTRAP).
. "$(dirname "${BASH_SOURCE[0]}")/paths.sh"
export PATH="$VENV/bin:$PATH"
export RUSTC="$XB/rustc-deb" RUSTC_BOOTSTRAP=1
BUILD_STD=(-Zbuild-std=std,panic_abort)
