#!/usr/bin/env python3
"""Checks that a built addon is what its release target needs, before anyone ships it.

    $CODEX_NATIVE_CACHE/venv/bin/python scripts/check-artifact.py <file.node> <rust-target>

Run it with the venv scripts/cross/toolchain.sh sets up (it has `lief`, one maintained parser
for ELF, Mach-O and PE). Checks: object format and CPU; a shared library exporting the Node-API
entry `napi_register_module_v1` (`_napi_register_module_v1` on Mach-O); Linux gnu: no glibc
symbol version above 2.17 (the floor the release promises); Linux musl: linked against musl's
libc, no glibc at all; macOS: minimum OS 11.0 (arm64) / 10.13 (x64); Windows: PE machine and
nothing imported but Windows system DLLs (no node.exe / libnode: napi's dyn-symbols finds N-API
at load time, and a DLL that is not on every Windows machine would fail to load).

Exit 0 and one "ok" line when everything holds; otherwise exit 1 and one line per problem.
"""
import re
import sys

import lief

GLIBC_FLOOR = (2, 17)
MACOS_MINOS = {"aarch64-apple-darwin": (11, 0), "x86_64-apple-darwin": (10, 13)}
ENTRY = "napi_register_module_v1"

# What a Node addon may import on Windows: DLLs that ship with every supported Windows. Listed
# rather than "anything but node": a MinGW runtime DLL (libgcc_s_seh, libwinpthread, libunwind)
# slipping in would load here under Wine's search path and fail on a user's machine.
WINDOWS_SYSTEM_DLLS = {
    "kernel32.dll", "ntdll.dll", "advapi32.dll", "bcrypt.dll", "bcryptprimitives.dll",
    "ws2_32.dll", "userenv.dll", "msvcrt.dll", "ucrtbase.dll", "shell32.dll", "ole32.dll",
    "oleaut32.dll", "user32.dll", "secur32.dll", "synchronization.dll", "psapi.dll",
    "dbghelp.dll", "iphlpapi.dll", "crypt32.dll", "mswsock.dll", "shlwapi.dll",
}

TARGETS = {
    # rust target: (format, cpu, kind)
    "x86_64-unknown-linux-gnu": ("ELF", "x86_64", "gnu"),
    "aarch64-unknown-linux-gnu": ("ELF", "aarch64", "gnu"),
    "x86_64-unknown-linux-musl": ("ELF", "x86_64", "musl"),
    "aarch64-unknown-linux-musl": ("ELF", "aarch64", "musl"),
    "x86_64-apple-darwin": ("MachO", "x86_64", "macos"),
    "aarch64-apple-darwin": ("MachO", "aarch64", "macos"),
    "x86_64-pc-windows-msvc": ("PE", "x86_64", "windows"),
    "aarch64-pc-windows-msvc": ("PE", "aarch64", "windows"),
}
# The GNU-ABI builds scripts/cross.sh makes for the MSVC names are checked the same way.
TARGETS["x86_64-pc-windows-gnu"] = TARGETS["x86_64-pc-windows-msvc"]
TARGETS["aarch64-pc-windows-gnullvm"] = TARGETS["aarch64-pc-windows-msvc"]


def version_tuple(text):
    return tuple(int(p) for p in text.split("."))


def check_elf(b, cpu, kind):
    problems = []
    want = {"x86_64": lief.ELF.ARCH.X86_64, "aarch64": lief.ELF.ARCH.AARCH64}[cpu]
    if b.header.machine_type != want:
        problems.append(f"ELF machine is {b.header.machine_type.name}, the target needs {want.name}")
    if b.header.identity_class != lief.ELF.Header.CLASS.ELF64:
        problems.append(f"ELF class is {b.header.identity_class.name}, not ELF64")
    if b.header.file_type != lief.ELF.Header.FILE_TYPE.DYN:
        problems.append(f"ELF type is {b.header.file_type.name}, not a shared library (DYN)")
    entry = [s for s in b.dynamic_symbols if s.name == ENTRY and s.exported]
    if not entry:
        problems.append(f"{ENTRY} is not exported")

    needs = {}  # library -> version names it requires
    for req in b.symbols_version_requirement:
        needs[req.name] = [a.name for a in req.get_auxiliary_symbols()]
    glibc = sorted(
        {v for vs in needs.values() for v in vs if v.startswith("GLIBC_") and re.fullmatch(r"GLIBC_\d+(\.\d+)*", v)},
        key=lambda v: version_tuple(v[6:]),
    )
    libs = list(b.libraries)
    if kind == "gnu":
        too_new = [v for v in glibc if version_tuple(v[6:]) > GLIBC_FLOOR]
        if too_new:
            floor = ".".join(map(str, GLIBC_FLOOR))
            problems.append(f"needs {', '.join(too_new)}: above the GLIBC_{floor} floor")
        if "libc.so.6" not in libs:
            problems.append(f"does not link glibc (libc.so.6); DT_NEEDED: {libs}")
    else:  # musl
        if glibc or any(v.startswith("GLIBC") for vs in needs.values() for v in vs):
            problems.append(f"a musl build requires glibc symbol versions: {needs}")
        glibc_libs = [l for l in libs if l == "libc.so.6" or l.startswith("ld-linux")]
        if glibc_libs:
            problems.append(f"a musl build links glibc libraries {glibc_libs}")
        # zig links musl's libc as "libc.so", a name musl's loader resolves to itself (the node
        # process's musl); Alpine's own toolchain writes libc.musl-<arch>.so.1.
        if not any(l == "libc.so" or l.startswith("libc.musl-") or l.startswith("ld-musl-") for l in libs):
            problems.append(f"does not link musl's libc; DT_NEEDED: {libs}")
    return problems


def check_macho(b, cpu, target):
    problems = []
    want = {"x86_64": lief.MachO.Header.CPU_TYPE.X86_64, "aarch64": lief.MachO.Header.CPU_TYPE.ARM64}[cpu]
    if b.header.cpu_type != want:
        problems.append(f"Mach-O CPU is {b.header.cpu_type.name}, the target needs {want.name}")
    if b.header.file_type != lief.MachO.Header.FILE_TYPE.DYLIB:
        problems.append(f"Mach-O type is {b.header.file_type.name}, not DYLIB")
    if not any(s.name == "_" + ENTRY for s in b.exported_symbols):
        problems.append(f"_{ENTRY} is not exported")
    # The minimum macOS: LC_BUILD_VERSION (newer toolchains) or LC_VERSION_MIN_MACOSX.
    minos = None
    if b.has_build_version:
        minos = tuple(b.build_version.minos)
    elif b.has_version_min:
        minos = tuple(b.version_min.version)
    want_minos = MACOS_MINOS[target]
    if minos is None:
        problems.append("no minimum macOS version (neither LC_BUILD_VERSION nor LC_VERSION_MIN_MACOSX)")
    elif minos[:2] != want_minos:
        shown = ".".join(map(str, minos if minos[2:] != (0,) else minos[:2]))
        problems.append(f"minimum macOS is {shown}, the release promises {'.'.join(map(str, want_minos))}")
    return problems


def check_pe(b, cpu):
    problems = []
    M = lief.PE.Header.MACHINE_TYPES
    want = {"x86_64": M.AMD64, "aarch64": M.ARM64}[cpu]
    if b.header.machine != want:
        problems.append(f"PE machine is {b.header.machine.name}, the target needs {want.name}")
    if not b.header.has_characteristic(lief.PE.Header.CHARACTERISTICS.DLL):
        problems.append("PE file is not a DLL")
    exports = b.get_export()
    names = [e.name for e in exports.entries] if exports is not None else []
    if ENTRY not in names:
        problems.append(f"{ENTRY} is not exported")
    for imp in b.imports:
        dll = imp.name.lower()
        if dll.startswith("api-ms-win-") or dll in WINDOWS_SYSTEM_DLLS:
            continue
        what = "node (build with napi's dyn-symbols)" if "node" in dll else "a DLL that is not part of Windows"
        problems.append(f"imports {imp.name}: {what}")
    return problems


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    path, target = argv[1], argv[2]
    if target not in TARGETS:
        print(f"check-artifact: unknown target {target!r}; known: {', '.join(sorted(TARGETS))}", file=sys.stderr)
        return 2
    fmt, cpu, kind = TARGETS[target]
    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        print(f"check-artifact: cannot read {path}: {e.strerror}", file=sys.stderr)
        return 1

    lief.logging.disable()  # its own parse warnings; we report what matters below
    b = lief.parse(path)
    if b is None:
        problems = [f"not an ELF, Mach-O or PE file (the target needs {fmt})"]
    elif isinstance(b, lief.ELF.Binary):
        problems = check_elf(b, cpu, kind) if fmt == "ELF" else [f"is ELF, the target needs {fmt}"]
    elif isinstance(b, lief.MachO.Binary):
        problems = check_macho(b, cpu, target) if fmt == "MachO" else [f"is Mach-O, the target needs {fmt}"]
    elif isinstance(b, lief.PE.Binary):
        problems = check_pe(b, cpu) if fmt == "PE" else [f"is PE, the target needs {fmt}"]
    else:
        problems = [f"unexpected object format {type(b).__name__}, the target needs {fmt}"]

    if problems:
        for p in problems:
            print(f"check-artifact: {path} ({target}): {p}", file=sys.stderr)
        return 1
    print(f"check-artifact: {path} ok for {target} ({fmt} {cpu})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
