'use strict'
// Where this package's files really are once an app is packaged.

const path = require('node:path')

/**
 * Electron apps pack node_modules into `app.asar`, which only Electron's patched `fs` can read;
 * the Rust side (codex discovery, spawning) sees one file there. What the app unpacked
 * (`asarUnpack`: the addon, `@openai/codex*`) lives at the same path under `app.asar.unpacked`,
 * so that is where discovery looks upward from.
 */
function unpackedPath(dir) {
  const parts = dir.split(path.sep)
  const i = parts.lastIndexOf('app.asar')
  if (i === -1) return dir
  parts[i] = 'app.asar.unpacked'
  return parts.join(path.sep)
}

module.exports = { unpackedPath }
