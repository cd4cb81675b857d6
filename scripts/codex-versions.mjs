// Where the codex native binary lives inside an @openai/codex install (through the addon's
// findCodex), and installing other @openai/codex versions into a cache for `pnpm test:compat`
// and `generate.mjs --diff`.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

/**
 * The native binary of the @openai/codex installed under `fromDir` (a directory whose
 * node_modules holds it, any layout discovery knows): { bin, version }. The lookup is the
 * addon's `findCodex`, the core's own (crates/app-server-client/src/discovery.rs), limited to
 * `fromDir`: neither CODEX_PATH nor PATH is consulted, so a compat run or `--diff` gets the
 * version it installed and nothing else. Needs the built addon (`pnpm build`).
 */
export function locateCodexBinary(fromDir) {
  const requireFrom = createRequire(path.join(fromDir, 'noop.js'));
  let codexPackageJson;
  try {
    codexPackageJson = requireFrom.resolve('@openai/codex/package.json');
  } catch {
    throw new Error(`@openai/codex is not installed under ${fromDir}`);
  }
  const version = JSON.parse(fs.readFileSync(codexPackageJson, 'utf8')).version;
  const { findCodex } = createRequire(import.meta.url)('../main.js');
  let bin;
  try {
    bin = findCodex({ searchPaths: [fromDir], ignoreEnv: true });
  } catch (err) {
    throw new Error(`@openai/codex ${version} under ${fromDir} has no native binary for ${process.platform}-${process.arch} (is its platform package installed?): ${err.message}`);
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
