"""Tests of scripts/check-artifact.py: it accepts what it should and rejects wrong artifacts.

    $CODEX_NATIVE_CACHE/venv/bin/python scripts/cross/test_check_artifact.py

Fixtures are tiny shared libraries built with zig (from the same venv) for each format, so the
test does not depend on which addons happen to be built; every addon found in artifacts/ is
also checked against its own target (must pass) and a target of the other CPU (must fail).
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHECKER = os.path.join(REPO, "scripts", "check-artifact.py")
ENTRY = "int napi_register_module_v1(void) { return 0; }\n"
# Linux fixtures call into libc, or the linker drops it (an addon always needs it).
ENTRY_LIBC = "#include <unistd.h>\nint napi_register_module_v1(void) { return getpid(); }\n"


def check(path, target):
    """(exit code, combined output) of the checker."""
    p = subprocess.run([sys.executable, CHECKER, path, target], capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


class Fixtures:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="check-artifact-test-")

    def build(self, name, zig_target, source, extra=()):
        src = os.path.join(self.dir, name + ".c")
        out = os.path.join(self.dir, name)
        with open(src, "w") as f:
            f.write(source)
        subprocess.run(
            [sys.executable, "-m", "ziglang", "cc", "-target", zig_target, "-shared", "-O2", "-o", out, src, *extra],
            check=True, cwd=self.dir,
        )
        return out


class CheckArtifactTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        fx = Fixtures()
        win_entry = "__declspec(dllexport) " + ENTRY
        libc = ("-lc",)
        cls.gnu217 = fx.build("gnu217.so", "x86_64-linux-gnu.2.17", ENTRY_LIBC, libc)
        # dlopen's only x86_64 version in a glibc 2.34 link is GLIBC_2.34 (libdl merged into libc).
        cls.gnu234 = fx.build("gnu234.so", "x86_64-linux-gnu.2.34",
                              "#include <dlfcn.h>\n" + ENTRY.replace("return 0;", "return dlopen(\"x\", 0) != 0;"), libc)
        cls.no_entry = fx.build("noentry.so", "aarch64-linux-gnu.2.17", "#include <unistd.h>\nint something_else(void) { return getpid(); }\n", libc)
        cls.arm64_gnu = fx.build("arm64gnu.so", "aarch64-linux-gnu.2.17", ENTRY_LIBC, libc)
        cls.musl = fx.build("musl.so", "x86_64-linux-musl", ENTRY_LIBC, libc)
        cls.mac11 = fx.build("mac11.dylib", "aarch64-macos.11.0", ENTRY)
        cls.mac13 = fx.build("mac13.dylib", "aarch64-macos.13.0", ENTRY)
        cls.win = fx.build("win.dll", "x86_64-windows-gnu", win_entry)
        cls.fixture_dir = fx.dir
        cls.text = os.path.join(fx.dir, "notes.txt")
        with open(cls.text, "w") as f:
            f.write("not a binary\n")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.fixture_dir, ignore_errors=True)

    def ok(self, path, target):
        code, out = check(path, target)
        self.assertEqual(code, 0, out)
        self.assertIn("ok for " + target, out)

    def rejects(self, path, target, *needles):
        code, out = check(path, target)
        self.assertEqual(code, 1, f"accepted {path} as {target}: {out}")
        for n in needles:
            self.assertIn(n, out)

    def test_linux_gnu(self):
        self.ok(self.gnu217, "x86_64-unknown-linux-gnu")
        self.ok(self.arm64_gnu, "aarch64-unknown-linux-gnu")

    def test_glibc_above_the_floor_is_rejected(self):
        self.rejects(self.gnu234, "x86_64-unknown-linux-gnu", "GLIBC_2.34", "above the GLIBC_2.17 floor")

    def test_wrong_cpu_is_rejected(self):
        self.rejects(self.gnu217, "aarch64-unknown-linux-gnu", "ELF machine is X86_64, the target needs AARCH64")
        self.rejects(self.arm64_gnu, "x86_64-unknown-linux-gnu", "ELF machine is AARCH64")
        self.rejects(self.win, "aarch64-pc-windows-msvc", "PE machine is AMD64, the target needs ARM64")

    def test_missing_entry_is_rejected(self):
        self.rejects(self.no_entry, "aarch64-unknown-linux-gnu", "napi_register_module_v1 is not exported")

    def test_musl(self):
        self.ok(self.musl, "x86_64-unknown-linux-musl")
        self.rejects(self.gnu217, "x86_64-unknown-linux-musl", "does not link musl's libc")
        self.rejects(self.musl, "x86_64-unknown-linux-gnu", "does not link glibc")

    def test_macos_minos(self):
        self.ok(self.mac11, "aarch64-apple-darwin")
        self.rejects(self.mac13, "aarch64-apple-darwin", "minimum macOS is 13.0, the release promises 11.0")
        self.rejects(self.mac11, "x86_64-apple-darwin", "Mach-O CPU is ARM64", "the release promises 10.13")

    def test_windows(self):
        self.ok(self.win, "x86_64-pc-windows-msvc")

    def test_wrong_format_is_rejected(self):
        self.rejects(self.win, "x86_64-unknown-linux-gnu", "is PE, the target needs ELF")
        self.rejects(self.mac11, "x86_64-pc-windows-msvc", "is Mach-O, the target needs PE")
        self.rejects(self.text, "aarch64-apple-darwin", "not an ELF, Mach-O or PE file")

    def test_bad_arguments(self):
        code, out = check(self.gnu217, "sparc-unknown-linux-gnu")
        self.assertEqual(code, 2, out)
        self.assertIn("unknown target 'sparc-unknown-linux-gnu'", out)
        self.rejects(os.path.join(self.text + ".missing"), "x86_64-unknown-linux-gnu", "cannot read")

    def test_built_artifacts(self):
        """Each addon in artifacts/ passes its target and fails the same OS on the other CPU."""
        platforms = {
            "linux-x64-gnu": ("x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"),
            "linux-arm64-gnu": ("aarch64-unknown-linux-gnu", "x86_64-unknown-linux-gnu"),
            "linux-x64-musl": ("x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl"),
            "linux-arm64-musl": ("aarch64-unknown-linux-musl", "x86_64-unknown-linux-musl"),
            "darwin-arm64": ("aarch64-apple-darwin", "x86_64-apple-darwin"),
            "darwin-x64": ("x86_64-apple-darwin", "aarch64-apple-darwin"),
            "win32-x64-msvc": ("x86_64-pc-windows-msvc", "aarch64-pc-windows-msvc"),
            "win32-arm64-msvc": ("aarch64-pc-windows-msvc", "x86_64-pc-windows-msvc"),
        }
        found = sorted(glob.glob(os.path.join(REPO, "artifacts", "bindings-*", "codex-native.*.node")))
        for path in found:
            platform = os.path.basename(path)[len("codex-native."):-len(".node")]
            with self.subTest(platform=platform):
                right, wrong = platforms[platform]
                self.ok(path, right)
                self.rejects(path, wrong, "the target needs")
        print(f"\n  checked {len(found)} built artifact(s) from artifacts/", file=sys.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
