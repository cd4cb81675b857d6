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
    /// be spawned directly (it is run through `cmd.exe`, see `process::command_for`), so it only
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
        Ok(path.to_path_buf())
    } else {
        let reason = if path.exists() {
            "is not an executable file"
        } else {
            "does not exist"
        };
        Err(Error::spawn_failed(
            format!("{source} {} {reason}", path.display()),
            vec![format!("{} ({source})", path.display())],
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
