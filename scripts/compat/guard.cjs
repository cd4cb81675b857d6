'use strict'
// Preloaded (NODE_OPTIONS=--require) into every Node process of a `pnpm test:compat` run:
// the test files, the fixtures they spawn and the examples under tsx. It checks that each
// real-codex session really ran the codex under test, so a test (or a kit helper) that found
// another codex (a codexPath, a spawn of the pinned binary) cannot pass silently. Each check
// is appended to CODEX_NATIVE_COMPAT_LOG; scripts/compat.mjs counts them (none at all means
// the guard was not loaded, which fails the run too).

const Module = require('node:module')
const fs = require('node:fs')
const path = require('node:path')

const expected = process.env.CODEX_NATIVE_COMPAT_VERSION
const bin = process.env.CODEX_NATIVE_COMPAT_BIN
const log = process.env.CODEX_NATIVE_COMPAT_LOG
const MAIN = path.resolve(__dirname, '..', '..', 'main.js')

/** The server's version: session.info.serverVersion, else the `<originator>/<version>` of its userAgent. */
function serverVersion(info) {
  if (info && typeof info.serverVersion === 'string') return info.serverVersion
  const m = /^[^/\s]+\/(\S+)/.exec((info && info.userAgent) || '')
  return m ? m[1] : null
}

function record(entry) {
  fs.appendFileSync(log, `${JSON.stringify({ pid: process.pid, ...entry })}\n`)
}

function guard(Session) {
  const create = Session.create
  Session.create = async function guardedCreate(...args) {
    const session = await create.apply(this, args)
    const info = session.info
    // The scripted fake server (testing/fake-app-server.js) stands in for crashes and bad
    // frames; it is not a codex.
    if (typeof info?.userAgent === 'string' && info.userAgent.startsWith('fake-app-server/')) return session
    // The discovery tests unset CODEX_PATH on purpose: they test finding the pinned package.
    if (process.env.CODEX_PATH !== bin) {
      record({ skipped: 'CODEX_PATH unset or changed (a discovery test)' })
      return session
    }
    const version = serverVersion(info)
    record({ version, ok: version === expected })
    if (version !== expected) {
      await session.close().catch(() => {})
      throw new Error(`test:compat guard: this session's server reports codex ${version ?? '(no version)'}, not ${expected} (CODEX_PATH=${bin})`)
    }
    return session
  }
}

if (expected && bin && log) {
  // main.js is patched the first time anything loads it (require, or import of the package
  // from the examples), without loading the addon into processes that never use it.
  const load = Module._load
  let done = false
  Module._load = function compatGuardLoad(...args) {
    const exports = load.apply(this, args)
    if (!done) {
      const main = require.cache[MAIN]
      if (main && main.loaded && main.exports && main.exports.Session) {
        done = true
        guard(main.exports.Session)
      }
    }
    return exports
  }
}
