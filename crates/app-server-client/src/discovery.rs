//! Finding the codex binary: `codexPath`, env `CODEX_PATH`, the native binary of an installed
//! `@openai/codex` platform package, then PATH.
//!
//! The platform is a value ([`HostPlatform`]) and the environment is read once into a
//! [`HostEnv`], so a test on one machine can ask what any of the six platforms codex ships for
//! would find in a given directory tree ([`Discovery::resolve_on`]).
//!
//! Layout of `@openai/codex` (checked against 0.169.0 and 0.171.0): the package itself holds
//! only a Node launcher (`bin/codex.js`); the native binary comes in an optional dependency
//! `@openai/codex-<os>-<cpu>` (an npm alias of `@openai/codex@<version>-<os>-<cpu>`) at
//! `vendor/<rust triple>/bin/codex[.exe]`. The launcher resolves that package with
//! `require.resolve` and falls back to its own `vendor/` directory; we look in the same places
//! without starting Node.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Where the codex binary may come from, in the order they are consulted.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    /// An explicit path (the `codexPath` option). When set, nothing else is tried.
    pub explicit: Option<PathBuf>,
    /// Directories from which to look upward for `node_modules/@openai/codex`.
    pub search_roots: Vec<PathBuf>,
}

/// Operating systems, as far as discovery cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Os {
    Linux,
    Macos,
    Windows,
    /// Any other OS (all of Rust's other hosts are unix-like): no platform package, PATH only.
    Other,
}

/// CPU architectures, as far as discovery cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    X64,
    Arm64,
    Other,
}

/// The platform whose codex is looked for. [`HostPlatform::current`] in production; any of
/// [`HostPlatform::CODEX_PLATFORMS`] in tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HostPlatform {
    pub os: Os,
    pub arch: Arch,
}

/// An `@openai/codex` platform package: its npm name and the Rust triple of its `vendor/` dir.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodexPackage {
    /// The name under `node_modules/@openai/`, e.g. `codex-darwin-arm64`.
    pub name: &'static str,
    /// e.g. `aarch64-apple-darwin`.
    pub triple: &'static str,
}

impl HostPlatform {
    /// The six platforms `@openai/codex` ships a native binary for.
    pub const CODEX_PLATFORMS: [HostPlatform; 6] = [
        HostPlatform::new(Os::Macos, Arch::Arm64),
        HostPlatform::new(Os::Macos, Arch::X64),
        HostPlatform::new(Os::Windows, Arch::X64),
        HostPlatform::new(Os::Windows, Arch::Arm64),
        HostPlatform::new(Os::Linux, Arch::Arm64),
        HostPlatform::new(Os::Linux, Arch::X64),
    ];

    pub const fn new(os: Os, arch: Arch) -> Self {
        HostPlatform { os, arch }
    }

    /// The platform this process runs on.
    pub fn current() -> Self {
        let os = match std::env::consts::OS {
            // The launcher treats Android as Linux (its musl binaries run there).
            "linux" | "android" => Os::Linux,
            "macos" => Os::Macos,
            "windows" => Os::Windows,
            _ => Os::Other,
        };
        let arch = match std::env::consts::ARCH {
            "x86_64" => Arch::X64,
            "aarch64" => Arch::Arm64,
            _ => Arch::Other,
        };
        HostPlatform { os, arch }
    }

    /// The platform package the `@openai/codex` launcher would pick (same table as its
    /// `bin/codex.js`). Linux gets the static musl build on glibc and musl alike.
    pub fn codex_package(self) -> Option<CodexPackage> {
        let (name, triple) = match (self.os, self.arch) {
            (Os::Linux, Arch::X64) => ("codex-linux-x64", "x86_64-unknown-linux-musl"),
            (Os::Linux, Arch::Arm64) => ("codex-linux-arm64", "aarch64-unknown-linux-musl"),
            (Os::Macos, Arch::X64) => ("codex-darwin-x64", "x86_64-apple-darwin"),
            (Os::Macos, Arch::Arm64) => ("codex-darwin-arm64", "aarch64-apple-darwin"),
            (Os::Windows, Arch::X64) => ("codex-win32-x64", "x86_64-pc-windows-msvc"),
            (Os::Windows, Arch::Arm64) => ("codex-win32-arm64", "aarch64-pc-windows-msvc"),
            _ => return None,
        };
        Some(CodexPackage { name, triple })
    }

    pub fn is_windows(self) -> bool {
        self.os == Os::Windows
    }

    /// The native binary's file name.
    pub fn exe_name(self) -> &'static str {
        if self.is_windows() {
            "codex.exe"
        } else {
            "codex"
        }
    }

    /// Names looked for on PATH, best first. npm's `codex.cmd` shim is a batch file that cannot
    /// be spawned directly (std runs it through `cmd.exe`, see `ChildProcess::spawn`), so it only
    /// counts when no `codex.exe` is on PATH at all.
    fn path_names(self) -> &'static [&'static str] {
        if self.is_windows() {
            &["codex.exe", "codex.cmd"]
        } else {
            &["codex"]
        }
    }

    /// Whether `path` is a file this platform could start. Windows has no execute bit: any
    /// existing file counts. Elsewhere one of the x bits must be set (checked only where the
    /// filesystem has them, i.e. on a unix host).
    fn is_executable(self, path: &Path) -> bool {
        let Ok(meta) = std::fs::metadata(path) else {
            return false;
        };
        if !meta.is_file() {
            return false;
        }
        if self.is_windows() {
            return true;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            meta.permissions().mode() & 0o111 != 0
        }
        #[cfg(not(unix))]
        true
    }

    /// Splits a PATH value by this platform's rules: `;` on Windows (where an entry may be
    /// quoted to hold a `;`), `:` elsewhere. Empty entries are dropped: an empty entry means
    /// "the current directory" to a POSIX shell, and a binary planted in whatever the cwd
    /// happens to be is not one we want to start.
    fn split_path_list(self, list: &std::ffi::OsStr) -> Vec<PathBuf> {
        let dirs: Vec<PathBuf> = if self.is_windows() {
            split_windows_path_list(&list.to_string_lossy())
        } else if cfg!(unix) {
            // The host's own rules, exact for non-UTF-8 entries.
            std::env::split_paths(list).collect()
        } else {
            list.to_string_lossy()
                .split(':')
                .map(PathBuf::from)
                .collect()
        };
        dirs.into_iter()
            .filter(|d| !d.as_os_str().is_empty())
            .collect()
    }
}

/// Windows' PATH rules, as `std::env::split_paths` applies them on Windows: `;` separates,
/// except inside double quotes, which are removed. Written out so the rules hold for the
/// Windows platform value on any host.
fn split_windows_path_list(list: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in list.chars() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => out.push(PathBuf::from(std::mem::take(&mut current))),
            c => current.push(c),
        }
    }
    out.push(PathBuf::from(current));
    out
}

/// What discovery reads from outside its options: the platform, `CODEX_PATH` and `PATH`.
/// A plain value so tests can describe another machine without touching the process
/// environment.
#[derive(Debug, Clone)]
pub struct HostEnv {
    pub platform: HostPlatform,
    /// Env `CODEX_PATH`; an empty value counts as unset.
    pub codex_path: Option<OsString>,
    /// Env `PATH`.
    pub path: Option<OsString>,
}

impl HostEnv {
    /// This process's platform and environment.
    pub fn current() -> Self {
        HostEnv {
            platform: HostPlatform::current(),
            codex_path: std::env::var_os("CODEX_PATH"),
            path: std::env::var_os("PATH"),
        }
    }
}

impl Discovery {
    /// Resolves the binary on this machine: see [`Discovery::resolve_on`].
    pub fn resolve(&self) -> Result<PathBuf> {
        self.resolve_on(&HostEnv::current())
    }

    /// Resolves the binary as it would be found on `host`: `explicit`, else `CODEX_PATH`
    /// (either one, when set, is the only place tried), else the native binary of an installed
    /// `@openai/codex` platform package (skipping its Node launcher), else PATH. The error
    /// lists every place tried.
    pub fn resolve_on(&self, host: &HostEnv) -> Result<PathBuf> {
        let platform = host.platform;
        if let Some(path) = &self.explicit {
            return check_explicit(platform, path, "codexPath");
        }
        if let Some(path) = host.codex_path.as_ref().filter(|p| !p.is_empty()) {
            return check_explicit(platform, Path::new(path), "CODEX_PATH");
        }
        let mut tried = Vec::new();
        for candidate in self.npm_candidates(platform) {
            if platform.is_executable(&candidate) {
                return Ok(candidate);
            }
            tried.push(describe_miss(&candidate));
        }
        let path_dirs = host
            .path
            .as_deref()
            .map(|p| platform.split_path_list(p))
            .unwrap_or_default();
        for name in platform.path_names() {
            for dir in &path_dirs {
                let candidate = dir.join(name);
                if platform.is_executable(&candidate) {
                    return Ok(candidate);
                }
            }
            tried.push(format!("{name} on PATH"));
        }
        Err(Error::spawn_failed("no codex binary found", tried))
    }

    /// Where an installed platform package's binary may be, nearest install first. For each
    /// directory from each search root upward that has `node_modules/@openai/codex` (or the
    /// platform package alone):
    /// - hoisted (npm, yarn classic, yarn berry's node-modules linker, pnpm with
    ///   `node-linker=hoisted`, and pnpm's hidden `.pnpm/node_modules`): the platform package
    ///   beside `@openai/codex`;
    /// - nested: the platform package inside `@openai/codex/node_modules` (npm, when hoisting
    ///   is blocked by a conflicting version);
    /// - pnpm (isolated, the default): `@openai/codex` is a symlink into
    ///   `.pnpm/@openai+codex@X/node_modules/@openai/codex`, whose dependencies (the platform
    ///   package, itself a symlink) sit beside its real directory;
    /// - the launcher's own `vendor/` directory, its fallback when the platform package is
    ///   missing (how some repackagings ship it);
    /// - yarn berry's Plug'n'Play linker: see [`yarn_unplugged`].
    fn npm_candidates(&self, platform: HostPlatform) -> Vec<PathBuf> {
        let Some(package) = platform.codex_package() else {
            return Vec::new();
        };
        let binary = |pkg_dir: PathBuf| {
            pkg_dir
                .join("vendor")
                .join(package.triple)
                .join("bin")
                .join(platform.exe_name())
        };
        let mut out: Vec<PathBuf> = Vec::new();
        let mut push = |p: PathBuf| {
            if !out.contains(&p) {
                out.push(p);
            }
        };
        for root in &self.search_roots {
            for dir in root.ancestors() {
                for unplugged in yarn_unplugged(dir, package) {
                    push(binary(unplugged));
                }
                let scope = dir.join("node_modules").join("@openai");
                let launcher = scope.join("codex");
                if !launcher.is_dir() && !scope.join(package.name).is_dir() {
                    continue;
                }
                push(binary(scope.join(package.name)));
                push(binary(
                    launcher
                        .join("node_modules")
                        .join("@openai")
                        .join(package.name),
                ));
                if let Ok(real) = launcher.canonicalize() {
                    if let Some(real_scope) = real.parent() {
                        push(binary(real_scope.join(package.name)));
                    }
                }
                push(binary(launcher));
            }
        }
        out
    }
}

/// Yarn berry's Plug'n'Play linker (its default) has no `node_modules`: packages stay zipped,
/// except those it unpacks into `.yarn/unplugged/<ident>-npm-<version>-<hash>/node_modules/
/// <name>`, which it does for the codex platform package (seen with yarn 4.18.1 and codex
/// 0.169.0: `@openai-codex-npm-0.169.0-linux-x64-7b975a52ec/node_modules/@openai/codex`; the
/// package is an npm alias, so the real name `@openai/codex` is what shows). Newest-looking
/// version first, should an old one still be there.
fn yarn_unplugged(dir: &Path, package: CodexPackage) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir.join(".yarn").join("unplugged")) else {
        return Vec::new();
    };
    // `codex-linux-x64` -> the version suffix `-linux-x64`.
    let platform_suffix = &package.name["codex".len()..];
    let mut found: Vec<(String, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let (version, _hash) = name.strip_prefix("@openai-codex-npm-")?.rsplit_once('-')?;
            let version = version.strip_suffix(platform_suffix)?;
            Some((
                version.to_owned(),
                e.path().join("node_modules").join("@openai").join("codex"),
            ))
        })
        .collect();
    found.sort_by(|a, b| compare_versions(&b.0, &a.0));
    found.into_iter().map(|(_, path)| path).collect()
}

/// Orders `0.171.0` after `0.169.0` (numeric parts compared as numbers, the rest as text).
fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    let key = |v: &str| {
        v.split(['.', '-'])
            .map(|part| (part.parse::<u64>().unwrap_or(u64::MAX), part.to_owned()))
            .collect::<Vec<_>>()
    };
    key(a).cmp(&key(b))
}

/// The program of a `command` transport (`docker`, `ssh`, `./bin/server`), as it would be
/// found on `platform`: a name with a path separator is a path (relative to `cwd` when given);
/// a bare name is looked up on `path` (the PATH the child will get), on Windows as `name`, then
/// `name.exe`, `name.cmd`, `name.bat` (std's own lookup appends `.exe` only, so `npx`, a
/// `.cmd` shim, would not be found; std runs a `.cmd`/`.bat` through `cmd.exe` with the
/// quoting it needs, as for codex's shim: see `ChildProcess::spawn`).
pub fn resolve_command_on(
    platform: HostPlatform,
    command: &str,
    cwd: Option<&Path>,
    path: Option<&std::ffi::OsStr>,
) -> Result<PathBuf> {
    let separators: &[char] = if platform.is_windows() {
        &['/', '\\']
    } else {
        &['/']
    };
    if command.contains(separators) {
        let given = Path::new(command);
        let full = match cwd {
            Some(dir) if given.is_relative() => dir.join(given),
            _ => given.to_path_buf(),
        };
        return check_explicit(platform, &full, "transport.command");
    }
    let names: Vec<String> = if platform.is_windows() {
        let mut names = vec![command.to_owned()];
        let lower = command.to_ascii_lowercase();
        if ![".exe", ".cmd", ".bat", ".com"]
            .iter()
            .any(|ext| lower.ends_with(ext))
        {
            names.clear();
            names.extend([".exe", ".cmd", ".bat"].map(|ext| format!("{command}{ext}")));
        }
        names
    } else {
        vec![command.to_owned()]
    };
    let dirs = path
        .map(|p| platform.split_path_list(p))
        .unwrap_or_default();
    for dir in &dirs {
        for name in &names {
            let candidate = dir.join(name);
            if platform.is_executable(&candidate) {
                return Ok(candidate);
            }
        }
    }
    Err(Error::spawn_failed(
        format!("transport.command `{command}` was not found on PATH"),
        names.iter().map(|n| format!("{n} on PATH")).collect(),
    ))
}

/// [`resolve_command_on`] this machine; `path` defaults to this process's PATH.
pub fn resolve_command(
    command: &str,
    cwd: Option<&Path>,
    path: Option<OsString>,
) -> Result<PathBuf> {
    let path = path.or_else(|| std::env::var_os("PATH"));
    resolve_command_on(HostPlatform::current(), command, cwd, path.as_deref())
}

/// A candidate that was not taken, as the error lists it: a file that exists but cannot be
/// run says so, since that is the one a user will be puzzled by.
fn describe_miss(candidate: &Path) -> String {
    if candidate.is_file() {
        format!("{} (not executable)", candidate.display())
    } else {
        candidate.display().to_string()
    }
}

fn check_explicit(platform: HostPlatform, path: &Path, source: &str) -> Result<PathBuf> {
    if platform.is_executable(path) {
        return Ok(path.to_path_buf());
    }
    let reason = match std::fs::metadata(path) {
        Err(_) => "does not exist",
        Ok(meta) if meta.is_dir() => "is a directory, not the codex binary",
        Ok(meta) if !meta.is_file() => "is not a regular file",
        Ok(_) => "is not an executable file (no execute permission: chmod +x it)",
    };
    Err(Error::spawn_failed(
        format!("{source} {} {reason}", path.display()),
        vec![format!("{} ({source})", path.display())],
    ))
}

/// Why exec of `path` failed, in words, when its first bytes tell: the OS only says "Exec format
/// error" or, for a script or binary whose interpreter is missing, a puzzling "No such file or
/// directory" about a file that plainly exists. Asked only after a spawn has failed (a
/// foreign binary can run under binfmt_misc + qemu, so it is no reason to refuse one up front).
/// None when the file looks runnable here (the OS error then stands as it is).
pub fn why_exec_failed(path: &Path) -> Option<String> {
    use std::io::Read;
    if cfg!(windows) {
        return None; // no #! lines, no ELF: CreateProcess's own error is as good as it gets
    }
    let mut head = Vec::with_capacity(4096);
    std::fs::File::open(path)
        .ok()?
        .take(4096)
        .read_to_end(&mut head)
        .ok()?;
    if let Some(line) = head.strip_prefix(b"#!") {
        let line = line.split(|b| *b == b'\n').next().unwrap_or_default();
        let line = String::from_utf8_lossy(line);
        let interpreter = line.split_whitespace().next().unwrap_or("");
        return interpreter_problem(Path::new(interpreter))
            .map(|problem| format!("its interpreter #!{interpreter} {problem}"));
    }
    const FOREIGN: &str = "is not a program for this machine (exec format error)";
    if head.starts_with(b"\x7fELF") {
        let elf = elf_header(&head)?;
        let here = std::env::consts::ARCH;
        if cfg!(target_os = "macos") {
            return Some(format!("{FOREIGN}: it is a Linux (ELF) binary"));
        }
        if elf.machine_name != here {
            return Some(format!(
                "{FOREIGN}: it is an ELF binary for {}, and this machine is {here}",
                elf.machine_name
            ));
        }
        // Right machine: a missing program interpreter (a glibc binary on musl, or the
        // reverse) is the other classic.
        let interp = elf.interpreter?;
        return interpreter_problem(Path::new(&interp)).map(|problem| {
            format!("its ELF interpreter {interp} {problem} (a binary built for another libc?)")
        });
    }
    let kind = if head.starts_with(b"MZ") {
        "a Windows executable".to_owned()
    } else if [
        [0xcf, 0xfa, 0xed, 0xfe],
        [0xca, 0xfe, 0xba, 0xbe],
        [0xce, 0xfa, 0xed, 0xfe],
    ]
    .iter()
    .any(|magic| head.starts_with(magic))
    {
        "a macOS (Mach-O) binary".to_owned()
    } else {
        "neither a binary this system runs nor a script with a #! line".to_owned()
    };
    if cfg!(target_os = "macos") && kind.contains("Mach-O") {
        return None; // another slice or a damaged binary: the OS error says it as well as we could
    }
    Some(format!("{FOREIGN}: it is {kind}"))
}

/// `None` when `path` is a file that can be executed.
fn interpreter_problem(path: &Path) -> Option<&'static str> {
    if path.as_os_str().is_empty() {
        return Some("is empty");
    }
    match std::fs::metadata(path) {
        Err(_) => Some("does not exist"),
        Ok(meta) if !meta.is_file() => Some("is not a file"),
        Ok(_) if !HostPlatform::current().is_executable(path) => Some("is not executable"),
        Ok(_) => None,
    }
}

struct ElfHeader {
    /// In `std::env::consts::ARCH` spelling where known.
    machine_name: String,
    /// PT_INTERP, if the program headers are within the bytes read.
    interpreter: Option<String>,
}

/// The parts of an ELF header that explain a failed exec. None if `head` is too short.
fn elf_header(head: &[u8]) -> Option<ElfHeader> {
    let wide = *head.get(4)? == 2; // EI_CLASS: 1 = 32-bit, 2 = 64-bit
    let little = *head.get(5)? == 1; // EI_DATA: 1 = little-endian
    let u16_at = |at: usize| -> Option<u64> {
        let b: [u8; 2] = head.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(u64::from(if little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        }))
    };
    let u32_at = |at: usize| -> Option<u64> {
        let b: [u8; 4] = head.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(u64::from(if little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }))
    };
    let u64_at = |at: usize| -> Option<u64> {
        let b: [u8; 8] = head.get(at..at.checked_add(8)?)?.try_into().ok()?;
        Some(if little {
            u64::from_le_bytes(b)
        } else {
            u64::from_be_bytes(b)
        })
    };
    let word = |at: usize| if wide { u64_at(at) } else { u32_at(at) };
    let machine = u16_at(18)?;
    let machine_name = match (machine, wide) {
        (62, _) => "x86_64".to_owned(),
        (3, _) => "x86".to_owned(),
        (183, _) => "aarch64".to_owned(),
        (40, _) => "arm".to_owned(),
        (243, true) => "riscv64".to_owned(),
        (21, true) => "powerpc64".to_owned(),
        (22, _) => "s390x".to_owned(),
        (other, _) => format!("machine type {other}"),
    };
    // Program headers: e_phoff, e_phentsize, e_phnum; PT_INTERP = 3.
    let interpreter = (|| {
        let (phoff, entsize, count) = if wide {
            (u64_at(32)?, u16_at(54)?, u16_at(56)?)
        } else {
            (u32_at(28)?, u16_at(42)?, u16_at(44)?)
        };
        // Offsets come from the file: checked, so a hostile header is no panic.
        for i in 0..count {
            let at = usize::try_from(phoff.checked_add(i.checked_mul(entsize)?)?).ok()?;
            if u32_at(at)? != 3 {
                continue;
            }
            let field = |delta: usize| word(at.checked_add(delta)?);
            let (offset, size) = if wide {
                (field(8)?, field(32)?)
            } else {
                (field(4)?, field(16)?)
            };
            let start = usize::try_from(offset).ok()?;
            let bytes = head.get(start..start.checked_add(usize::try_from(size).ok()?)?)?;
            let name = bytes.split(|b| *b == 0).next()?;
            return Some(String::from_utf8_lossy(name).into_owned());
        }
        None
    })();
    Some(ElfHeader {
        machine_name,
        interpreter,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_is_a_path_or_found_on_path_with_windows_names() {
        let dir = std::env::temp_dir().join(format!("cn-resolve-{}", std::process::id()));
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        for name in ["npx.cmd", "docker.exe", "tool"] {
            std::fs::write(bin.join(name), "").unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(bin.join(name), std::fs::Permissions::from_mode(0o755))
                    .unwrap();
            }
        }
        let windows = HostPlatform::new(Os::Windows, Arch::X64);
        let linux = HostPlatform::new(Os::Linux, Arch::X64);
        let path = std::ffi::OsString::from(bin.to_str().unwrap());
        let found = |platform, name| resolve_command_on(platform, name, None, Some(&path));
        assert_eq!(found(windows, "npx").unwrap(), bin.join("npx.cmd"));
        assert_eq!(found(windows, "docker").unwrap(), bin.join("docker.exe"));
        assert_eq!(found(windows, "npx.cmd").unwrap(), bin.join("npx.cmd"));
        // Windows needs an extension; elsewhere the name is the file.
        assert!(found(windows, "tool").is_err());
        assert_eq!(found(linux, "tool").unwrap(), bin.join("tool"));
        let missing = found(linux, "npx").unwrap_err().to_string();
        assert!(missing.contains("`npx` was not found on PATH"), "{missing}");
        // A path is taken as given, relative to cwd.
        let relative = resolve_command_on(linux, "bin/tool", Some(&dir), None).unwrap();
        assert_eq!(relative, dir.join("bin/tool"));
        let absent = resolve_command_on(linux, "./nope", Some(&dir), None).unwrap_err();
        assert!(absent.to_string().contains("transport.command"), "{absent}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn windows_path_lists_split_on_semicolons_outside_quotes() {
        assert_eq!(
            split_windows_path_list(r#"C:\a;"C:\b;c";;D:\d"#),
            vec![
                PathBuf::from(r"C:\a"),
                PathBuf::from(r"C:\b;c"),
                PathBuf::from(""),
                PathBuf::from(r"D:\d"),
            ]
        );
        let win = HostPlatform::new(Os::Windows, Arch::X64);
        assert_eq!(
            win.split_path_list(std::ffi::OsStr::new(r"C:\a;;C:\b;")),
            vec![PathBuf::from(r"C:\a"), PathBuf::from(r"C:\b")]
        );
    }

    #[test]
    fn unix_path_lists_split_on_colons_and_drop_empty_entries() {
        let linux = HostPlatform::new(Os::Linux, Arch::X64);
        assert_eq!(
            linux.split_path_list(std::ffi::OsStr::new("/a::/b;c:")),
            vec![PathBuf::from("/a"), PathBuf::from("/b;c")]
        );
    }

    /// A 64-bit little-endian ELF header for `machine` with one PT_INTERP program header.
    fn elf(machine: u16, interpreter: &str) -> Vec<u8> {
        let mut b = vec![0u8; 64 + 56];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2; // 64-bit
        b[5] = 1; // little-endian
        b[6] = 1;
        b[16] = 2; // ET_EXEC
        b[18..20].copy_from_slice(&machine.to_le_bytes());
        b[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        b[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        b[56..58].copy_from_slice(&1u16.to_le_bytes()); // e_phnum
        b[64..68].copy_from_slice(&3u32.to_le_bytes()); // PT_INTERP
        let at = b.len() as u64;
        b[64 + 8..64 + 16].copy_from_slice(&at.to_le_bytes());
        b[64 + 32..64 + 40].copy_from_slice(&(interpreter.len() as u64 + 1).to_le_bytes());
        b.extend_from_slice(interpreter.as_bytes());
        b.push(0);
        b
    }

    #[test]
    fn elf_headers_give_machine_and_interpreter() {
        let h = elf_header(&elf(183, "/lib/ld-musl-aarch64.so.1")).unwrap();
        assert_eq!(h.machine_name, "aarch64");
        assert_eq!(h.interpreter.as_deref(), Some("/lib/ld-musl-aarch64.so.1"));
        let h = elf_header(&elf(62, "/lib64/ld-linux-x86-64.so.2")).unwrap();
        assert_eq!(h.machine_name, "x86_64");
        // Truncated or absurd headers are no panic, just no answer.
        assert!(elf_header(b"\x7fELF\x02\x01").is_none());
        let mut bad = elf(62, "x");
        bad[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(elf_header(&bad).unwrap().interpreter, None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn failed_execs_are_explained_from_the_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("cn-why-exec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let p = dir.join(name);
            std::fs::write(&p, bytes).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
            p
        };
        let foreign = if std::env::consts::ARCH == "aarch64" {
            62
        } else {
            183
        };
        let why = why_exec_failed(&write("foreign", &elf(foreign, "/lib/ld.so"))).unwrap();
        assert!(
            why.contains("is not a program for this machine (exec format error)"),
            "{why}"
        );
        let why = why_exec_failed(&write("script", b"#!/nonexistent/sh -e\necho hi\n")).unwrap();
        assert_eq!(why, "its interpreter #!/nonexistent/sh does not exist");
        let why = why_exec_failed(&write("text", b"echo no shebang\n")).unwrap();
        assert!(
            why.contains("neither a binary this system runs nor a script"),
            "{why}"
        );
        let native = if std::env::consts::ARCH == "aarch64" {
            183
        } else {
            62
        };
        let why = why_exec_failed(&write("libc", &elf(native, "/lib/ld-nowhere.so.9"))).unwrap();
        assert!(
            why.contains("its ELF interpreter /lib/ld-nowhere.so.9 does not exist"),
            "{why}"
        );
        assert_eq!(why_exec_failed(&write("ok", b"#!/bin/sh\n")), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_the_six_codex_platforms_have_a_package() {
        for p in HostPlatform::CODEX_PLATFORMS {
            assert!(p.codex_package().is_some(), "{p:?}");
        }
        assert_eq!(
            HostPlatform::new(Os::Other, Arch::X64).codex_package(),
            None
        );
        assert_eq!(
            HostPlatform::new(Os::Linux, Arch::Other).codex_package(),
            None
        );
    }
}
