//! Discovery against fake directory trees laid out as npm, pnpm and yarn install
//! `@openai/codex`, for each of the six platforms it ships a binary for. The platform is a
//! value, so Linux CI checks what macOS and Windows would find.
//!
//! Real layouts these copy (checked against the registry and real installs, codex 0.169.0):
//! - `@openai/codex` depends on `@openai/codex-<os>-<cpu>` = `npm:@openai/codex@<v>-<os>-<cpu>`,
//!   whose binary is `vendor/<triple>/bin/codex[.exe]`;
//! - pnpm: `node_modules/@openai/codex -> .pnpm/@openai+codex@<v>/node_modules/@openai/codex`,
//!   and beside it `codex-<os>-<cpu> -> ../../../@openai+codex@<v>-<os>-<cpu>/node_modules/@openai/codex`;
//! - yarn 4 Plug'n'Play: `.yarn/unplugged/@openai-codex-npm-<v>-<os>-<cpu>-<hash>/node_modules/@openai/codex`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use app_server_client::{Arch, Discovery, Error, HostEnv, HostPlatform, Os};

/// A directory under the system temp dir, removed when dropped.
struct Tree {
    root: PathBuf,
}

impl Tree {
    fn new(label: &str) -> Tree {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let root = std::env::temp_dir().join(format!(
            "codex-discovery-{}-{label}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("create temp tree");
        // Canonical, so paths built from it compare equal to what discovery derives through
        // `canonicalize` (the temp dir itself may be a symlink, as on macOS).
        let root = root.canonicalize().expect("canonical temp tree");
        Tree { root }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn dir(&self, rel: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(&p).expect("create dir");
        p
    }

    /// A file with the given unix mode (ignored where there are no modes).
    fn file(&self, rel: &str, mode: u32) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().expect("file has a parent")).expect("create parent");
        std::fs::write(&p, b"#!/bin/sh\n").expect("write file");
        set_mode(&p, mode);
        p
    }

    /// The `@openai/codex` launcher package (what npm puts at `<dir>/@openai/codex`).
    fn launcher(&self, rel_dir: &str) -> PathBuf {
        self.file(&format!("{rel_dir}/bin/codex.js"), 0o755);
        self.file(&format!("{rel_dir}/package.json"), 0o644);
        self.path(rel_dir)
    }

    /// A platform package's binary inside the package directory `rel_pkg`.
    fn platform_binary(&self, rel_pkg: &str, platform: HostPlatform, mode: u32) -> PathBuf {
        let pkg = platform.codex_package().expect("a codex platform");
        self.file(&format!("{rel_pkg}/package.json"), 0o644);
        self.file(
            &format!(
                "{rel_pkg}/vendor/{}/bin/{}",
                pkg.triple,
                platform.exe_name()
            ),
            mode,
        )
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) {}

#[cfg(unix)]
fn symlink(target: &str, link: &Path) {
    std::fs::create_dir_all(link.parent().expect("link has a parent")).expect("create parent");
    std::os::unix::fs::symlink(target, link).expect("symlink");
}

/// `node_modules/@openai/codex-<os>-<cpu>` for `platform`.
fn pkg_name(platform: HostPlatform) -> &'static str {
    platform.codex_package().expect("a codex platform").name
}

/// A machine of `platform` with nothing on PATH and no CODEX_PATH.
fn host(platform: HostPlatform) -> HostEnv {
    HostEnv {
        platform,
        codex_path: None,
        path: None,
    }
}

fn discover(roots: &[PathBuf]) -> Discovery {
    Discovery {
        explicit: None,
        search_roots: roots.to_vec(),
    }
}

fn discover_from(root: &Path) -> Discovery {
    discover(&[root.to_path_buf()])
}

fn canonical(p: &Path) -> PathBuf {
    p.canonicalize()
        .unwrap_or_else(|e| panic!("{} should exist: {e}", p.display()))
}

/// Resolves and checks the answer is `expected` (the same file, whatever symlinks lead to it).
#[track_caller]
fn assert_finds(discovery: &Discovery, host: &HostEnv, expected: &Path) {
    match discovery.resolve_on(host) {
        Ok(found) => assert_eq!(
            canonical(&found),
            canonical(expected),
            "{:?} found {} instead of {}",
            host.platform,
            found.display(),
            expected.display()
        ),
        Err(e) => panic!(
            "{:?} should find {}: {e}",
            host.platform,
            expected.display()
        ),
    }
}

#[track_caller]
fn tried(result: Result<PathBuf, Error>) -> Vec<String> {
    match result {
        Err(Error::SpawnFailed { tried, .. }) => tried,
        other => panic!("expected SpawnFailed, got {other:?}"),
    }
}

fn all_platforms() -> [HostPlatform; 6] {
    HostPlatform::CODEX_PLATFORMS
}

#[test]
fn the_six_platform_packages_match_the_registry() {
    // From `npm view @openai/codex@0.169.0 optionalDependencies` (same in 0.171.0) and each
    // package's file list (`npm pack --dry-run`): the name and the vendor triple.
    let expected = [
        (
            Os::Macos,
            Arch::Arm64,
            "codex-darwin-arm64",
            "aarch64-apple-darwin",
            "codex",
        ),
        (
            Os::Macos,
            Arch::X64,
            "codex-darwin-x64",
            "x86_64-apple-darwin",
            "codex",
        ),
        (
            Os::Windows,
            Arch::X64,
            "codex-win32-x64",
            "x86_64-pc-windows-msvc",
            "codex.exe",
        ),
        (
            Os::Windows,
            Arch::Arm64,
            "codex-win32-arm64",
            "aarch64-pc-windows-msvc",
            "codex.exe",
        ),
        (
            Os::Linux,
            Arch::Arm64,
            "codex-linux-arm64",
            "aarch64-unknown-linux-musl",
            "codex",
        ),
        (
            Os::Linux,
            Arch::X64,
            "codex-linux-x64",
            "x86_64-unknown-linux-musl",
            "codex",
        ),
    ];
    for (os, arch, name, triple, exe) in expected {
        let p = HostPlatform::new(os, arch);
        let pkg = p.codex_package().expect("a codex platform");
        assert_eq!((pkg.name, pkg.triple, p.exe_name()), (name, triple, exe));
        assert!(HostPlatform::CODEX_PLATFORMS.contains(&p));
    }
}

#[test]
fn npm_hoisted_layout_for_every_platform() {
    for platform in all_platforms() {
        let t = Tree::new("hoisted");
        t.launcher("node_modules/@openai/codex");
        let bin = t.platform_binary(
            &format!("node_modules/@openai/{}", pkg_name(platform)),
            platform,
            0o755,
        );
        assert_finds(&discover_from(&t.root), &host(platform), &bin);
    }
}

#[test]
fn npm_nested_layout_for_every_platform() {
    for platform in all_platforms() {
        let t = Tree::new("nested");
        t.launcher("node_modules/@openai/codex");
        let bin = t.platform_binary(
            &format!(
                "node_modules/@openai/codex/node_modules/@openai/{}",
                pkg_name(platform)
            ),
            platform,
            0o755,
        );
        assert_finds(&discover_from(&t.root), &host(platform), &bin);
    }
}

/// pnpm's default (isolated) layout, exactly as pnpm 10 lays out codex 0.169.0.
#[cfg(unix)]
#[test]
fn pnpm_layout_for_every_platform() {
    for platform in all_platforms() {
        let t = Tree::new("pnpm");
        let name = pkg_name(platform);
        let plat = &name["codex-".len()..];
        t.launcher("node_modules/.pnpm/@openai+codex@0.169.0/node_modules/@openai/codex");
        let bin = t.platform_binary(
            &format!("node_modules/.pnpm/@openai+codex@0.169.0-{plat}/node_modules/@openai/codex"),
            platform,
            0o755,
        );
        symlink(
            &format!("../../../@openai+codex@0.169.0-{plat}/node_modules/@openai/codex"),
            &t.path(&format!(
                "node_modules/.pnpm/@openai+codex@0.169.0/node_modules/@openai/{name}"
            )),
        );
        symlink(
            "../.pnpm/@openai+codex@0.169.0/node_modules/@openai/codex",
            &t.path("node_modules/@openai/codex"),
        );
        assert_finds(&discover_from(&t.root), &host(platform), &bin);

        // codex-native's own directory under pnpm (the default search root besides the cwd)
        // sits inside the store; the walk upward still reaches the project's node_modules.
        let own_dir = t.dir("node_modules/.pnpm/codex-native@0.1.0/node_modules/codex-native");
        assert_finds(&discover_from(&own_dir), &host(platform), &bin);
    }
}

/// The brief's simpler picture of pnpm: the platform package as a plain directory beside the
/// launcher's real directory.
#[cfg(unix)]
#[test]
fn pnpm_platform_package_as_a_plain_directory_beside_the_real_launcher() {
    for platform in all_platforms() {
        let t = Tree::new("pnpm-plain");
        let store = "node_modules/.pnpm/@openai+codex@0.171.0/node_modules/@openai";
        t.launcher(&format!("{store}/codex"));
        let bin = t.platform_binary(&format!("{store}/{}", pkg_name(platform)), platform, 0o755);
        symlink(
            "../.pnpm/@openai+codex@0.171.0/node_modules/@openai/codex",
            &t.path("node_modules/@openai/codex"),
        );
        assert_finds(&discover_from(&t.root), &host(platform), &bin);
    }
}

/// Yarn 4's default linker: no node_modules at all; the platform package is unpacked into
/// `.yarn/unplugged` (its directory named after the real package, `@openai/codex`, since the
/// dependency is an npm alias). Yarn classic and yarn 4's node-modules linker produce the
/// hoisted layout tested above.
#[test]
fn yarn_pnp_unplugged_layout_for_every_platform() {
    for platform in all_platforms() {
        let t = Tree::new("yarn-pnp");
        let plat = &pkg_name(platform)["codex-".len()..];
        t.file(".pnp.cjs", 0o644);
        // The launcher stays zipped in the cache; another platform's unplugged package and an
        // unrelated one are ignored.
        t.file(
            ".yarn/cache/@openai-codex-npm-0.169.0-f0acc0af83-10c0.zip",
            0o644,
        );
        for other in all_platforms().into_iter().filter(|p| *p != platform) {
            let other_plat = &pkg_name(other)["codex-".len()..];
            t.platform_binary(
                &format!(
                    ".yarn/unplugged/@openai-codex-npm-0.169.0-{other_plat}-0123456789/node_modules/@openai/codex"
                ),
                other,
                0o755,
            );
        }
        t.dir(".yarn/unplugged/esbuild-npm-0.25.0-abcdef0123/node_modules/esbuild");
        let bin = t.platform_binary(
            &format!(
                ".yarn/unplugged/@openai-codex-npm-0.169.0-{plat}-7b975a52ec/node_modules/@openai/codex"
            ),
            platform,
            0o755,
        );
        let cwd = t.dir("src/app");
        assert_finds(&discover_from(&cwd), &host(platform), &bin);
    }
}

#[test]
fn yarn_pnp_prefers_the_newest_unplugged_version() {
    let platform = HostPlatform::new(Os::Linux, Arch::X64);
    let t = Tree::new("yarn-versions");
    for v in ["0.99.0", "0.171.0", "0.169.0"] {
        t.platform_binary(
            &format!(".yarn/unplugged/@openai-codex-npm-{v}-linux-x64-0123456789/node_modules/@openai/codex"),
            platform,
            0o755,
        );
    }
    let newest = t.path(
        ".yarn/unplugged/@openai-codex-npm-0.171.0-linux-x64-0123456789/node_modules/@openai/codex/vendor/x86_64-unknown-linux-musl/bin/codex",
    );
    assert_finds(&discover_from(&t.root), &host(platform), &newest);
}

/// What the launcher falls back to when the platform package cannot be resolved: its own
/// `vendor/` directory.
#[test]
fn launcher_vendor_fallback_for_every_platform() {
    for platform in all_platforms() {
        let t = Tree::new("launcher-vendor");
        t.launcher("node_modules/@openai/codex");
        let bin = t.platform_binary("node_modules/@openai/codex", platform, 0o755);
        assert_finds(&discover_from(&t.root), &host(platform), &bin);
    }
}

#[test]
fn searched_upward_from_a_nested_cwd_nearest_install_first() {
    for platform in all_platforms() {
        let t = Tree::new("upward");
        let name = pkg_name(platform);
        t.launcher("node_modules/@openai/codex");
        let outer = t.platform_binary(&format!("node_modules/@openai/{name}"), platform, 0o755);
        let deep = t.dir("packages/app/src/deep/er");
        assert_finds(&discover_from(&deep), &host(platform), &outer);

        // A workspace package with its own install wins over the repository root's.
        t.launcher("packages/app/node_modules/@openai/codex");
        let inner = t.platform_binary(
            &format!("packages/app/node_modules/@openai/{name}"),
            platform,
            0o755,
        );
        assert_finds(&discover_from(&deep), &host(platform), &inner);
    }
}

#[test]
fn search_roots_are_tried_in_order() {
    let platform = HostPlatform::new(Os::Macos, Arch::Arm64);
    let a = Tree::new("roots-a");
    let b = Tree::new("roots-b");
    let in_a = a.platform_binary("node_modules/@openai/codex-darwin-arm64", platform, 0o755);
    let in_b = b.platform_binary("node_modules/@openai/codex-darwin-arm64", platform, 0o755);
    assert_finds(
        &discover(&[a.root.clone(), b.root.clone()]),
        &host(platform),
        &in_a,
    );
    assert_finds(
        &discover(&[b.root.clone(), a.root.clone()]),
        &host(platform),
        &in_b,
    );
}

#[test]
fn other_platforms_packages_are_ignored() {
    for platform in all_platforms() {
        let t = Tree::new("wrong-platform");
        t.launcher("node_modules/@openai/codex");
        let mut others = Vec::new();
        for other in all_platforms().into_iter().filter(|p| *p != platform) {
            others.push(t.platform_binary(
                &format!("node_modules/@openai/{}", pkg_name(other)),
                other,
                0o755,
            ));
        }
        let tried = tried(discover_from(&t.root).resolve_on(&host(platform)));
        let expected = t
            .path(&format!("node_modules/@openai/{}", pkg_name(platform)))
            .join("vendor")
            .join(platform.codex_package().expect("a codex platform").triple)
            .join("bin")
            .join(platform.exe_name());
        assert!(
            tried.contains(&expected.display().to_string()),
            "{platform:?}: {tried:?} should list {}",
            expected.display()
        );
        for other in others {
            let other = other.display().to_string();
            assert!(
                !tried.iter().any(|t| t.starts_with(&other)),
                "{platform:?} looked at {other}"
            );
        }

        // With its own package installed too, that one is found.
        let bin = t.platform_binary(
            &format!("node_modules/@openai/{}", pkg_name(platform)),
            platform,
            0o755,
        );
        assert_finds(&discover_from(&t.root), &host(platform), &bin);
    }
}

/// On unix a binary without an x bit is skipped (and listed as such); on Windows there is no
/// x bit, so the same file counts.
#[cfg(unix)]
#[test]
fn a_binary_that_is_not_executable_is_skipped_on_unix_and_listed() {
    for platform in all_platforms() {
        let t = Tree::new("not-executable");
        t.launcher("node_modules/@openai/codex");
        let bin = t.platform_binary(
            &format!("node_modules/@openai/{}", pkg_name(platform)),
            platform,
            0o644,
        );
        let result = discover_from(&t.root).resolve_on(&host(platform));
        if platform.is_windows() {
            assert_finds(&discover_from(&t.root), &host(platform), &bin);
            continue;
        }
        let tried = tried(result);
        assert!(
            tried.contains(&format!("{} (not executable)", bin.display())),
            "{platform:?}: {tried:?}"
        );
        assert!(tried.contains(&"codex on PATH".to_owned()), "{tried:?}");

        // An executable one further on (nested in the launcher) is then taken.
        let nested = t.platform_binary(
            &format!(
                "node_modules/@openai/codex/node_modules/@openai/{}",
                pkg_name(platform)
            ),
            platform,
            0o755,
        );
        assert_finds(&discover_from(&t.root), &host(platform), &nested);
    }
}

#[test]
fn windows_needs_codex_exe_not_codex() {
    for arch in [Arch::X64, Arch::Arm64] {
        let platform = HostPlatform::new(Os::Windows, arch);
        let pkg = platform.codex_package().expect("a codex platform");
        let t = Tree::new("win-exe");
        t.launcher("node_modules/@openai/codex");
        let dir = format!(
            "node_modules/@openai/{}/vendor/{}/bin",
            pkg.name, pkg.triple
        );
        t.file(&format!("{dir}/codex"), 0o755);
        let tried = tried(discover_from(&t.root).resolve_on(&host(platform)));
        let exe = t.path(&format!("{dir}/codex.exe")).display().to_string();
        assert!(tried.contains(&exe), "{tried:?}");
        assert_eq!(
            &tried[tried.len() - 2..],
            ["codex.exe on PATH", "codex.cmd on PATH"]
        );

        let exe = t.file(&format!("{dir}/codex.exe"), 0o644);
        assert_finds(&discover_from(&t.root), &host(platform), &exe);
    }
}

fn path_list(dirs: &[&Path], sep: &str) -> OsString {
    let parts: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    OsString::from(parts.join(sep))
}

#[test]
fn windows_path_prefers_codex_exe_over_the_cmd_shim() {
    let platform = HostPlatform::new(Os::Windows, Arch::X64);
    let t = Tree::new("win-path");
    let shim_dir = t.dir("npm-global");
    let shim = t.file("npm-global/codex.cmd", 0o644);
    let exe_dir = t.dir("Programs/codex");
    let exe = t.file("Programs/codex/codex.exe", 0o644);
    let empty = t.dir("empty");
    // The shim's directory comes first, and `;` separates (a `:` would split nothing here).
    let env = HostEnv {
        path: Some(path_list(&[&empty, &shim_dir, &exe_dir], ";")),
        ..host(platform)
    };
    assert_finds(&discover(&[]), &env, &exe);

    // With no codex.exe anywhere, the shim is the answer.
    let env = HostEnv {
        path: Some(path_list(&[&empty, &shim_dir], ";")),
        ..host(platform)
    };
    assert_finds(&discover(&[]), &env, &shim);

    // A quoted entry may hold a `;`.
    let odd = t.dir("odd;dir");
    let odd_exe = t.file("odd;dir/codex.exe", 0o644);
    let env = HostEnv {
        path: Some(OsString::from(format!(
            "\"{}\";{}",
            odd.display(),
            empty.display()
        ))),
        ..host(platform)
    };
    assert_finds(&discover(&[]), &env, &odd_exe);
}

#[cfg(unix)]
#[test]
fn unix_path_skips_files_without_the_x_bit() {
    for platform in all_platforms().into_iter().filter(|p| !p.is_windows()) {
        let t = Tree::new("unix-path");
        let a = t.dir("a");
        let b = t.dir("b");
        t.file("a/codex", 0o644);
        let good = t.file("b/codex", 0o755);
        let env = HostEnv {
            path: Some(path_list(&[&a, &b], ":")),
            ..host(platform)
        };
        assert_finds(&discover(&[]), &env, &good);

        // `;` is no separator on unix: the whole value is one (missing) directory.
        let env = HostEnv {
            path: Some(path_list(&[&a, &b], ";")),
            ..host(platform)
        };
        assert_eq!(tried(discover(&[]).resolve_on(&env)), ["codex on PATH"]);
    }
}

#[test]
fn the_platform_package_comes_before_path() {
    // A unix PATH cannot hold a Windows host's `C:\...` directories: those only on unix hosts.
    for platform in all_platforms()
        .into_iter()
        .filter(|p| cfg!(unix) || p.is_windows())
    {
        let t = Tree::new("package-before-path");
        let bin = t.platform_binary(
            &format!("node_modules/@openai/{}", pkg_name(platform)),
            platform,
            0o755,
        );
        let path_dir = t.dir("bin");
        for name in ["codex", "codex.exe", "codex.cmd"] {
            t.file(&format!("bin/{name}"), 0o755);
        }
        let env = HostEnv {
            path: Some(path_dir.into_os_string()),
            ..host(platform)
        };
        assert_finds(&discover_from(&t.root), &env, &bin);
        // Searching from a tree without the package, PATH answers.
        let elsewhere = Tree::new("no-package");
        let expected = t.path(&format!("bin/{}", platform.exe_name()));
        assert_finds(&discover_from(&elsewhere.root), &env, &expected);
    }
}

#[test]
fn codex_path_and_codex_path_option_are_the_only_place_tried() {
    for platform in all_platforms() {
        let t = Tree::new("explicit");
        t.platform_binary(
            &format!("node_modules/@openai/{}", pkg_name(platform)),
            platform,
            0o755,
        );
        let own = t.file("custom/codex-build", 0o755);
        let missing = t.path("custom/missing");
        let roots = [t.root.clone()];

        // CODEX_PATH wins over the installed package...
        let env = HostEnv {
            codex_path: Some(own.clone().into_os_string()),
            ..host(platform)
        };
        assert_finds(&discover(&roots), &env, &own);
        // ...and when it points nowhere, nothing else is tried.
        let env = HostEnv {
            codex_path: Some(missing.clone().into_os_string()),
            ..host(platform)
        };
        let err = discover(&roots)
            .resolve_on(&env)
            .expect_err("missing CODEX_PATH");
        assert!(err.to_string().contains("does not exist"), "{err}");
        assert_eq!(
            tried(Err(err)),
            [format!("{} (CODEX_PATH)", missing.display())]
        );

        // codexPath wins over CODEX_PATH, and is likewise alone.
        let with_option = Discovery {
            explicit: Some(missing.clone()),
            search_roots: roots.to_vec(),
        };
        let env = HostEnv {
            codex_path: Some(own.clone().into_os_string()),
            ..host(platform)
        };
        assert_eq!(
            tried(with_option.resolve_on(&env)),
            [format!("{} (codexPath)", missing.display())]
        );

        // An empty CODEX_PATH counts as unset.
        let env = HostEnv {
            codex_path: Some(OsString::new()),
            ..host(platform)
        };
        assert!(discover(&roots).resolve_on(&env).is_ok());
    }
}

#[test]
fn an_unsupported_platform_only_looks_on_path() {
    let platform = HostPlatform::new(Os::Other, Arch::X64);
    let t = Tree::new("unsupported");
    for p in all_platforms() {
        t.platform_binary(&format!("node_modules/@openai/{}", pkg_name(p)), p, 0o755);
    }
    assert_eq!(
        tried(discover_from(&t.root).resolve_on(&host(platform))),
        ["codex on PATH"]
    );
}

#[test]
fn nothing_found_lists_every_place_tried() {
    let platform = HostPlatform::new(Os::Windows, Arch::Arm64);
    let t = Tree::new("nothing");
    t.launcher("node_modules/@openai/codex");
    let err = discover_from(&t.root)
        .resolve_on(&host(platform))
        .expect_err("nothing installed");
    let message = err.to_string();
    assert!(message.contains("no codex binary found"), "{message}");
    let tried = tried(Err(err));
    let scope = t.path("node_modules/@openai");
    let bin = |pkg: PathBuf| {
        pkg.join("vendor/aarch64-pc-windows-msvc/bin/codex.exe")
            .display()
            .to_string()
    };
    assert_eq!(
        tried,
        [
            bin(scope.join("codex-win32-arm64")),
            bin(scope.join("codex/node_modules/@openai/codex-win32-arm64")),
            bin(scope.join("codex")),
            "codex.exe on PATH".to_owned(),
            "codex.cmd on PATH".to_owned(),
        ]
    );
}
