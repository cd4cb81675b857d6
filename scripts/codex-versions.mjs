// Where the codex native binary lives inside an @openai/codex install, and installing other
// @openai/codex versions into a cache for `pnpm test:compat` and `generate.mjs --diff`.
// The one copy of the platform mapping for the scripts (generate.mjs imports it).

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

// Same mapping as @openai/codex's bin/codex.js: the launcher package pulls in one platform
// package (an npm alias of `@openai/codex@<version>-<platform>`) that carries the binary under
// vendor/<triple>/bin/. Checked for 0.160.1, 0.169.0 and 0.171.0.
export const PLATFORM_PACKAGE_BY_TARGET = {
  'x86_64-unknown-linux-musl': '@openai/codex-linux-x64',
  'aarch64-unknown-linux-musl': '@openai/codex-linux-arm64',
  'x86_64-apple-darwin': '@openai/codex-darwin-x64',
  'aarch64-apple-darwin': '@openai/codex-darwin-arm64',
  'x86_64-pc-windows-msvc': '@openai/codex-win32-x64',
  'aarch64-pc-windows-msvc': '@openai/codex-win32-arm64',
};

export function targetTriple(platform = process.platform, arch = process.arch) {
  const table = {
    linux: { x64: 'x86_64-unknown-linux-musl', arm64: 'aarch64-unknown-linux-musl' },
    android: { x64: 'x86_64-unknown-linux-musl', arm64: 'aarch64-unknown-linux-musl' },
    darwin: { x64: 'x86_64-apple-darwin', arm64: 'aarch64-apple-darwin' },
    win32: { x64: 'x86_64-pc-windows-msvc', arm64: 'aarch64-pc-windows-msvc' },
  };
  const triple = table[platform]?.[arch];
  if (!triple) throw new Error(`unsupported platform for codex: ${platform} (${arch})`);
  return triple;
}

/**
 * The native binary of the @openai/codex resolvable from `fromDir` (a directory whose
 * node_modules holds it, npm or pnpm layout): { bin, version }.
 */
export function locateCodexBinary(fromDir) {
  const requireFrom = createRequire(path.join(fromDir, 'noop.js'));
  let codexPackageJson;
  try {
    codexPackageJson = requireFrom.resolve('@openai/codex/package.json');
  } catch {
    throw new Error(`@openai/codex is not installed under ${fromDir}`);
  }
  const codexDir = fs.realpathSync(path.dirname(codexPackageJson));
  const version = JSON.parse(fs.readFileSync(codexPackageJson, 'utf8')).version;
  const triple = targetTriple();
  const platformPackage = PLATFORM_PACKAGE_BY_TARGET[triple];
  let vendorRoot;
  try {
    const platformPackageJson = requireFrom.resolve(`${platformPackage}/package.json`, { paths: [codexDir] });
    vendorRoot = path.join(path.dirname(platformPackageJson), 'vendor');
  } catch {
    // Older launchers shipped every binary in their own vendor/ directory.
    vendorRoot = path.join(codexDir, 'vendor');
  }
  const bin = path.join(vendorRoot, triple, 'bin', process.platform === 'win32' ? 'codex.exe' : 'codex');
  if (!fs.existsSync(bin)) {
    throw new Error(`codex binary not found at ${bin} (is ${platformPackage} installed?)`);
  }
  return { bin, version };
}

// Exact versions only (no ranges or tags): the result files and the cache are keyed by it.
const VERSION_RE = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z]+(?:\.[0-9A-Za-z]+)*)?$/;

/** Throws a usage-style error unless `version` is an exact @openai/codex version. */
export function checkVersionArgument(version) {
  if (typeof version !== 'string' || !VERSION_RE.test(version)) {
    throw new Error(`not an exact @openai/codex version: ${JSON.stringify(version ?? null)} (expected e.g. 0.171.0)`);
  }
  return version;
}

/** Compares two versions numerically (prerelease parts as strings; a release sorts after its prereleases). */
export function compareVersions(a, b) {
  const [ma, pa = ''] = a.split('-', 2);
  const [mb, pb = ''] = b.split('-', 2);
  const na = ma.split('.').map(Number);
  const nb = mb.split('.').map(Number);
  for (let i = 0; i < 3; i++) if (na[i] !== nb[i]) return na[i] - nb[i];
  if (pa === pb) return 0;
  if (!pa) return 1;
  if (!pb) return -1;
  return pa < pb ? -1 : 1;
}

export function cacheRoot() {
  return process.env.CODEX_NATIVE_CACHE || path.join(os.homedir(), '.cache', 'codex-native');
}

/** The version `<bin> --version` reports ("codex-cli 0.171.0" -> "0.171.0"). */
export function reportedVersion(bin) {
  let out;
  try {
    out = execFileSync(bin, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    throw new Error(`\`${bin} --version\` failed: ${err.message}`);
  }
  const m = /(\S+)\s*$/.exec(out);
  if (!m) throw new Error(`\`${bin} --version\` printed nothing`);
  return m[1];
}

/** Throws unless the binary reports `version`. */
export function checkBinaryVersion(bin, version) {
  const reported = reportedVersion(bin);
  if (reported !== version) throw new Error(`${bin} reports version ${reported}, expected ${version}`);
}

/**
 * Installs @openai/codex@<version> into <cache>/codex/<version> unless it is already there
 * (then nothing touches the network) and returns { bin, version, dir, installed }.
 * npm installs into a temporary sibling that is renamed into place, so an interrupted
 * install never leaves a half-filled directory that a later run would trust.
 * Progress goes to stderr (stdout may be machine-readable output).
 */
export function installCodex(version) {
  checkVersionArgument(version);
  const parent = path.join(cacheRoot(), 'codex');
  const dir = path.join(parent, version);
  const ready = () => {
    const found = locateCodexBinary(dir);
    if (found.version !== version) throw new Error(`${dir} holds @openai/codex ${found.version}, not ${version}`);
    checkBinaryVersion(found.bin, version);
    return { ...found, dir };
  };
  if (fs.existsSync(dir)) {
    try {
      return { ...ready(), installed: false };
    } catch (err) {
      process.stderr.write(`codex ${version}: the cached install is unusable (${err.message}); reinstalling\n`);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  fs.mkdirSync(parent, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(parent, `.${version}.tmp-`));
  try {
    process.stderr.write(`codex ${version}: installing @openai/codex@${version} into ${dir}\n`);
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    try {
      execFileSync(npm, ['install', '--prefix', tmp, '--no-save', '--no-audit', '--no-fund', '--loglevel=error', `@openai/codex@${version}`], {
        stdio: ['ignore', 2, 2],
        shell: process.platform === 'win32',
      });
    } catch (err) {
      throw new Error(`npm install @openai/codex@${version} failed (${err.message}); is ${version} a published version?`);
    }
    try {
      fs.renameSync(tmp, dir);
    } catch (err) {
      // Another run installed the same version meanwhile: use theirs.
      if (!fs.existsSync(dir)) throw err;
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return { ...ready(), installed: true };
}
