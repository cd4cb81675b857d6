'use strict'
// Loads the native addon through the napi-rs generated loader (../index.js), which looks for a
// local `codex-native.<platform>.node` and then the `codex-native-<platform>` package that npm,
// pnpm or yarn installed as an optional dependency. When nothing fits, its error ("Cannot find
// native binding") names neither the platform nor the package; this one says both, and what to do.

/** The napi platform name of this process (`linux-x64-gnu`, `darwin-arm64`, ...), as napi-rs names packages. */
function napiPlatform(platform = process.platform, arch = process.arch, libc = detectLibc()) {
  if (platform === 'win32') return `win32-${arch}-msvc`
  if (platform === 'linux') return `linux-${arch}-${libc}`
  return `${platform}-${arch}`
}

// glibc reports its version in the process report; musl does not. (The generated loader reads
// /usr/bin/ldd first; the report is enough to name the expected package.)
function detectLibc() {
  if (process.platform !== 'linux') return null
  try {
    const header = process.report && /** @type {any} */ (process.report.getReport()).header
    return header && header.glibcVersionRuntime ? 'gnu' : 'musl'
  } catch {
    return 'gnu'
  }
}

// The platforms a prebuilt addon is published for: package.json `napi.targets`, as napi names
// them (aarch64-apple-darwin -> darwin-arm64, x86_64-pc-windows-msvc -> win32-x64-msvc, ...).
function publishedPlatforms() {
  const cpu = { x86_64: 'x64', aarch64: 'arm64' }
  return require('../package.json').napi.targets.map((triple) => {
    const [arch, , os, abi] = triple.split('-')
    const name = { darwin: 'darwin', windows: 'win32', linux: 'linux' }[os] ?? os
    return [name, cpu[arch] ?? arch, abi].filter(Boolean).join('-')
  })
}

function missingAddonError(cause, platform = napiPlatform()) {
  const pkg = `codex-native-${platform}`
  const published = publishedPlatforms()
  const lines = published.includes(platform)
    ? [
        `codex-native: the native addon for ${platform} could not be loaded. It comes in the optional ` +
          `dependency \`${pkg}\` (file codex-native.${platform}.node), which is missing or failed to load.`,
        'What to do:',
        `- Reinstall without omitting optional dependencies (no --no-optional / --omit=optional).`,
        `- pnpm with a lockfile or node_modules made on another OS, CPU or libc (CI images, Docker, ` +
          `Electron cross-builds): list this platform in package.json "pnpm": { "supportedArchitectures": ` +
          `{ "os": ["current", "${platformOs(platform)}"], "cpu": ["current", "${platformCpu(platform)}"]` +
          `${platformLibc(platform) ? `, "libc": ["current", "${platformLibc(platform)}"]` : ''} } }, then reinstall.`,
        `- npm: a known npm bug skips optional dependencies when the lockfile was made elsewhere; delete ` +
          `node_modules and package-lock.json and run npm install again.`,
        `- Or build the addon from source (Rust toolchain): see "Building from source" in codex-native's README.`,
      ]
    : [
        `codex-native: no prebuilt native addon is published for ${platform}; expected package \`${pkg}\` ` +
          `does not exist. Prebuilt: ${published.join(', ')}.`,
        `Build the addon from source (Rust toolchain): see "Building from source" in codex-native's README.`,
      ]
  const reasons = loadErrorMessages(cause)
  if (reasons.length > 0) lines.push('Load errors:', ...reasons.map((m) => `- ${m}`))
  const err = /** @type {Error & Record<string, unknown>} */ (new Error(lines.join('\n'), { cause }))
  err.code = 'NATIVE_ADDON_MISSING'
  err.platform = platform
  err.expectedPackage = pkg
  return err
}

// The generated loader chains each attempt's error through `cause`; their first lines say why
// (not found, wrong ELF class, `GLIBC_2.xx' not found, ...).
function loadErrorMessages(err) {
  const out = []
  for (let e = err; e instanceof Error && out.length < 8; e = e.cause) {
    const first = String(e.message).split('\n')[0]
    // This package ships no WASI build: the loader's WASI fallbacks only add noise.
    if (!first.startsWith('Cannot find native binding') && !/wasi/i.test(first)) out.push(first)
  }
  return out
}

const platformOs = (p) => p.split('-')[0]
const platformCpu = (p) => p.split('-')[1]
const platformLibc = (p) => ({ gnu: 'glibc', musl: 'musl' })[p.split('-')[2]]

function loadNative() {
  try {
    return require('../index.js')
  } catch (err) {
    throw missingAddonError(err)
  }
}

module.exports = { loadNative, napiPlatform, missingAddonError, publishedPlatforms }
