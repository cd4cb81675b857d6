#!/usr/bin/env bash
# Installs the cross toolchain of /work/shared/CROSS-BUILD.md, cached; a second run downloads
# nothing. rustup's dist server is unreachable here, so std for foreign targets is built from
# source (-Zbuild-std) with Debian bookworm-security's rustc-web 1.96 + rust-web-src, and zig
# (PyPI ziglang) links through cargo-zigbuild (PyPI).
#
#   bash scripts/cross/toolchain.sh     # install (idempotent)
#   . scripts/cross/env.sh              # then: cargo zigbuild ... with RUSTC set
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/paths.sh"

# Debian packages of the one rustc line we build with. Only the series is pinned (1.96): the
# security archive keeps just the newest upload of it, so an exact version would go stale.
RUST_SERIES=1.96
DEBS=(rustc-web "libstd-rust-web-$RUST_SERIES" libstd-rust-web-dev rust-web-src libllvm22)
PIP_PKGS=(ziglang==0.17.1 cargo-zigbuild==0.24.1 lief==0.17.6)

log() { printf 'cross/toolchain: %s\n' "$*" >&2; }

# --- rustc-web, from .debs unpacked into our cache (never installed system-wide) ------------
if [[ ! -f "$XB/debroot/.done" ]]; then
  log "downloading Debian rustc-web $RUST_SERIES into $XB"
  rm -rf "$XB/debs" "$XB/debroot"
  mkdir -p "$XB/debs" "$XB/debroot"
  # A stale package list (a fresh image) does not know the security upload yet.
  apt-cache show "libstd-rust-web-$RUST_SERIES" >/dev/null 2>&1 || apt-get update -qq
  (cd "$XB/debs" && apt-get download -q -o APT::Sandbox::User=root "${DEBS[@]}" >/dev/null)
  for f in "$XB"/debs/*.deb; do dpkg -x "$f" "$XB/debroot"; done
  rm -rf "$XB/debs"   # 130 MB; the unpacked tree is what is used
  # Debian's rustc lacks rust-objcopy (cargo strips with it on Apple targets) and gcc-ld:
  # borrow the host tools of rustup's toolchain, which does not depend on their version.
  rs="$(rustup run stable rustc --print sysroot)"
  mkdir -p "$XB/debroot/usr/lib/rustlib/x86_64-unknown-linux-gnu/bin"
  cp -a "$rs/lib/rustlib/x86_64-unknown-linux-gnu/bin/." "$XB/debroot/usr/lib/rustlib/x86_64-unknown-linux-gnu/bin/"
  touch "$XB/debroot/.done"
fi

# rustc needs libLLVM / librustc_driver from the same unpacked tree.
if [[ ! -x "$XB/rustc-deb" ]]; then
  cat >"$XB/rustc-deb" <<X
#!/bin/sh
LD_LIBRARY_PATH=$XB/debroot/usr/lib/x86_64-linux-gnu\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH} exec $XB/debroot/usr/bin/rustc "\$@"
X
  chmod +x "$XB/rustc-deb"
fi
"$XB/rustc-deb" -V | grep -q "^rustc $RUST_SERIES\." || { log "unexpected rustc: $("$XB/rustc-deb" -V)"; exit 1; }

# --- zig, cargo-zigbuild, lief: the project's shared tool venv ------------------------------
if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating $VENV"
  python3 -m venv "$VENV"
fi
stamp="$VENV/.cross-${PIP_PKGS[*]// /_}"
if [[ ! -f "$stamp" ]]; then
  log "pip install ${PIP_PKGS[*]}"
  "$VENV/bin/pip" install -q --disable-pip-version-check "${PIP_PKGS[@]}"
  touch "$stamp"
fi

# --- Windows: napi's dyn-symbols resolves node's symbols at load time, but napi-build still
# wants a libnode to link against on windows-gnu; empty stand-ins satisfy it.
if [[ ! -f "$XB/libnode-stub/libnode.dll" ]]; then
  mkdir -p "$XB/libnode-stub"
  for l in libnode.a libssp.a libssp_nonshared.a; do printf '!<arch>\n' >"$XB/libnode-stub/$l"; done
  : >"$XB/libnode-stub/libnode.dll"
fi
