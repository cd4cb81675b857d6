#!/usr/bin/env bash
# The cross-platform part of CI (.ci/run calls it): builds and checks the addon for the targets
# below with scripts/cross.sh, runs a whole turn with two of them in their platform's real Node
# (scripts/foreign-run.sh), and compiles the Windows and macOS code of the core.
#
# What runs on every CI run, and why (measured on 2 cores, cold = nothing in target/cross):
# - the checker's own test (scripts/cross/test_check_artifact.py): the release depends on it
#   rejecting wrong artifacts.
# - x86_64-unknown-linux-gnu.2.17: the published linux-x64 addon must be built this way (the
#   `napi build` one needs GLIBC_2.34); rustup's std, no -Zbuild-std; plus its turn on this
#   machine's node.
# - aarch64-unknown-linux-gnu + its turn under qemu-user: the one foreign Linux CPU we can run.
# - x86_64-pc-windows-gnu (named win32-x64-msvc) + its turns under Wine: the only way the
#   Windows code paths of the core (codex.exe discovery, codex.cmd through cmd.exe, shutdown)
#   run before a release.
# - `cargo check` for aarch64-apple-darwin (the addon, hence the core too; macOS code is the same
#   on both CPUs) and the core with its tests for x86_64-pc-windows-gnu.
# Not every run: the musl, x86_64-apple-darwin and aarch64 Windows builds (each 2-4 min cold, std
# from source) would push .ci/run past its 30 minutes; the release pipeline builds them, and
# `bash scripts/cross.sh <target>` does so locally.
#
# Measured (2 cores, 2026-12-01; cold runs shared the CPU with other builds, load 5-9):
#   step                               cold (empty cache)   warm cache, fresh clone
#   toolchain (rustc-web, zig, lief)   37 s                 0.1 s
#   qemu + arm64 node + sysroot        33 s (background)    0 s
#   Wine + win node + prefix + shim    ~1-2 min (background) 0 s
#   build x86_64-unknown-linux-gnu     113 s                56 s  (only this project's crates)
#   build aarch64-unknown-linux-gnu    334 s                77 s
#   build x86_64-pc-windows-gnu        229 s                55 s
#   checker self-test                  165 s                12 s
#   check aarch64-apple-darwin         153 s                ~10 s
#   check x86_64-pc-windows-gnu        113 s                ~10 s
#   turns: linux-x64, arm64, win32     1 s, 4 s, 7 s
#   total                              ~19 min (idle machine: ~11, 12 CPU-min)   4.2 min
# (warm, 16:13 run: builds 46 / 91 / 78 s as this project's crates changed, self-test 17 s.)
# The cache is $CODEX_NATIVE_CACHE/cross (target/ for the cross builds included). The table
# printed at the end gives this run's numbers.
set -euo pipefail
cd "$(dirname "$0")/.."

declare -a timings=()
step() {
  local name=$1 start=$SECONDS
  shift
  echo "== ci-cross: $name" >&2
  "$@"
  timings+=("$(printf '%4d s  %s' $((SECONDS - start)) "$name")")
}

step "cross toolchain" bash scripts/cross/toolchain.sh
. scripts/cross/paths.sh
# A fresh clone has no target/: keep the cross builds (std from source for each target, every
# dependency) in the cache instead, so a CI run with a warm cache rebuilds only this project.
export CODEX_NATIVE_CROSS_TARGET_DIR="${CODEX_NATIVE_CROSS_TARGET_DIR:-$XB/target}"

# qemu, Wine and the foreign nodes install (mostly downloads and dpkg) while the builds use the CPU.
foreign_log="$(mktemp)"
(
  start=$SECONDS
  bash scripts/cross/foreign-setup.sh linux-arm64 && bash scripts/cross/foreign-setup.sh win32-x64
  rc=$?
  echo "$((SECONDS - start))" >"$foreign_log.seconds"
  exit $rc
) >"$foreign_log" 2>&1 &
foreign_pid=$!

step "build x86_64-unknown-linux-gnu" bash scripts/cross.sh x86_64-unknown-linux-gnu
step "build aarch64-unknown-linux-gnu" bash scripts/cross.sh aarch64-unknown-linux-gnu
step "build x86_64-pc-windows-msvc (GNU ABI)" bash scripts/cross.sh x86_64-pc-windows-msvc
# After the builds, so it also checks each built addon against the other CPU's target.
step "checker self-test" "$VENV/bin/python" scripts/cross/test_check_artifact.py

# `cargo-zigbuild check`: build scripts still compile C (mimalloc) for the target, with zig.
check() {
  local target=$1
  shift
  (. scripts/cross/env.sh && CARGO_TARGET_DIR="$CODEX_NATIVE_CROSS_TARGET_DIR" \
    cargo-zigbuild check --locked "${BUILD_STD[@]}" --target "$target" -q "$@")
}
step "cargo check aarch64-apple-darwin (addon + core)" check aarch64-apple-darwin -p codex-native
step "cargo check x86_64-pc-windows-gnu (core + tests)" check x86_64-pc-windows-gnu -p app-server-client --tests

if ! wait "$foreign_pid"; then
  echo "ci-cross: installing qemu / Wine failed:" >&2
  cat "$foreign_log" >&2
  exit 1
fi
timings+=("$(printf '%4d s  %s' "$(cat "$foreign_log.seconds")" "qemu + Wine install (in the background)")")
rm -f "$foreign_log" "$foreign_log.seconds"
step "linux-x64 turn (this node, glibc 2.17 build)" bash scripts/foreign-run.sh linux-x64
step "linux-arm64 turn (qemu)" bash scripts/foreign-run.sh linux-arm64
step "win32-x64 turns (Wine)" bash scripts/foreign-run.sh win32-x64

echo "== ci-cross timings" >&2
printf '%s\n' "${timings[@]}" >&2
