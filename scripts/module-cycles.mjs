#!/usr/bin/env node
// Import circles between the modules of a Rust crate: prints each module's dependencies and
// exits 1 when some modules depend on each other in a circle.
//
//   node scripts/module-cycles.mjs [--quiet] DIR...
//
// Each DIR is a crate's source directory (the one holding lib.rs or main.rs); every .rs file
// under it is a module (`a.rs` and `a/mod.rs` are `a`, `a/b.rs` is `a::b`); inline modules
// (`mod tests { .. }`) belong to their file. A dependency is a path in code or in a `use`:
// `crate::a::..`, `super::..`, `self::..`, or a child module's name. Paths that go through a
// module's re-exports (`pub use`, `pub(crate) use`, as lib.rs does) count as depending on the
// module that defines the item, not on the re-exporting one, so a facade is not a circle.
// Comments and string literals are ignored (intra-doc links are not dependencies).
import fs from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

/** Code tokens of Rust source: identifiers, `::` and single punctuation, with their lines. */
export function tokenize(src) {
  const tokens = []
  let line = 1
  let i = 0
  const n = src.length
  const isIdStart = (c) => /[A-Za-z_]/.test(c)
  const isId = (c) => /[A-Za-z0-9_]/.test(c)
  const skipTo = (end) => {
    for (; i < end; i++) if (src[i] === '\n') line++
  }
  while (i < n) {
    const c = src[i]
    if (c === '\n') {
      line++
      i++
    } else if (c === '/' && src[i + 1] === '/') {
      while (i < n && src[i] !== '\n') i++
    } else if (c === '/' && src[i + 1] === '*') {
      // Block comments nest in Rust.
      let depth = 0
      let j = i
      do {
        if (src[j] === '/' && src[j + 1] === '*') {
          depth++
          j += 2
        } else if (src[j] === '*' && src[j + 1] === '/') {
          depth--
          j += 2
        } else j++
      } while (depth > 0 && j < n)
      skipTo(j)
    } else if ((c === 'r' || (c === 'b' && src[i + 1] === 'r')) && /^b?r#*"/.test(src.slice(i, i + 260))) {
      // Raw string r#"..."#: ends at a quote followed by as many hashes.
      const m = /^b?r(#*)"/.exec(src.slice(i, i + 260))
      const close = `"${m[1]}`
      const end = src.indexOf(close, i + m[0].length)
      skipTo(end < 0 ? n : end + close.length)
    } else if (c === '"' || (c === 'b' && src[i + 1] === '"')) {
      let j = c === 'b' ? i + 2 : i + 1
      while (j < n && src[j] !== '"') j += src[j] === '\\' ? 2 : 1
      skipTo(j + 1)
    } else if (c === "'") {
      // A char literal ('x', '\n', '\u{..}') or a lifetime/label ('a), which has no closing quote.
      if (src[i + 1] === '\\') {
        const end = src.indexOf("'", i + 3)
        i = end < 0 ? n : end + 1
      } else {
        const ch = String.fromCodePoint(src.codePointAt(i + 1) ?? 32)
        if (src[i + 1 + ch.length] === "'") i += 2 + ch.length
        else i++
      }
    } else if (isIdStart(c)) {
      let j = i + 1
      while (j < n && isId(src[j])) j++
      tokens.push({ t: src.slice(i, j), line })
      i = j
    } else if (c === ':' && src[i + 1] === ':') {
      tokens.push({ t: '::', line })
      i += 2
    } else if (/\s/.test(c)) {
      i++
    } else if (/[0-9]/.test(c)) {
      let j = i + 1
      while (j < n && isId(src[j])) j++
      i = j
    } else {
      tokens.push({ t: c, line })
      i++
    }
  }
  return tokens
}

/** The module path of a file relative to the crate directory (`[]` for the crate root). */
function modulePathOf(rel) {
  const parts = rel.split(path.sep)
  const last = parts.pop().replace(/\.rs$/, '')
  if (parts.length === 0 && (last === 'lib' || last === 'main')) return []
  if (last === 'mod') return parts
  return [...parts, last]
}


/**
 * Reads one file: its inline modules, its `use` trees and the paths in its code, each path
 * tagged with the inline module it appears in.
 */
function scanFile(tokens) {
  const paths = [] // { inline: string[], segs: string[], line, reexport, isUse }
  const childDecls = [] // `mod x;` declared at some inline depth
  const inlineMods = [] // inline module paths (relative to the file)
  const stack = [] // { name, depth } for open inline modules
  let depth = 0
  const inlineHere = () => stack.map((s) => s.name)

  // Expands a `use` tree starting at tokens[k]; returns the index after it.
  const parseUseTree = (k, prefix, out) => {
    const segs = [...prefix]
    while (k < tokens.length) {
      const t = tokens[k].t
      if (t === '{') {
        k++
        while (k < tokens.length && tokens[k].t !== '}') {
          k = parseUseTree(k, segs, out)
          if (tokens[k]?.t === ',') k++
        }
        return k + 1
      }
      if (t === '*') {
        out.push({ segs, line: tokens[k].line })
        return k + 1
      }
      if (/^[A-Za-z_]/.test(t)) {
        segs.push(t === 'r' && tokens[k + 1]?.t === '#' ? tokens[(k += 2)].t : t)
        k++
        if (tokens[k]?.t === '::') {
          k++
          continue
        }
        if (tokens[k]?.t === 'as') k += 2
        // `self` in a group names the prefix module itself.
        if (segs[segs.length - 1] === 'self' && segs.length > 1) segs.pop()
        out.push({ segs, line: tokens[k - 1].line })
        return k
      }
      // `::name` (2015 style absolute) or stray punctuation: skip.
      k++
    }
    return k
  }

  for (let k = 0; k < tokens.length; k++) {
    const { t } = tokens[k]
    if (t === '{') depth++
    else if (t === '}') {
      depth--
      while (stack.length && stack[stack.length - 1].depth > depth) stack.pop()
    } else if (t === 'mod' && /^[A-Za-z_]/.test(tokens[k + 1]?.t ?? '')) {
      const name = tokens[k + 1].t
      if (tokens[k + 2]?.t === ';') childDecls.push({ inline: inlineHere(), name })
      else if (tokens[k + 2]?.t === '{') {
        stack.push({ name, depth: depth + 1 })
        inlineMods.push([...inlineHere()])
        depth++
        k += 2
      }
    } else if (t === 'use' && tokens[k - 1]?.t !== '::') {
      // `pub use`, `pub(crate) use`, `pub(super) use`, `pub(in ..) use` re-export.
      let b = k - 1
      if (tokens[b]?.t === ')') {
        while (b > 0 && tokens[b].t !== '(') b--
        b--
      }
      const reexport = tokens[b]?.t === 'pub'
      const out = []
      const end = parseUseTree(k + 1, [], out)
      for (const p of out) paths.push({ inline: inlineHere(), segs: p.segs, line: p.line, reexport, isUse: true })
      k = end - 1
    } else if (/^[A-Za-z_]/.test(t) && tokens[k - 1]?.t !== '::' && tokens[k + 1]?.t === '::') {
      // A path in code: collect `a::b::c` (generic arguments end it).
      const segs = [t]
      let j = k + 1
      while (tokens[j]?.t === '::' && /^[A-Za-z_]/.test(tokens[j + 1]?.t ?? '')) {
        segs.push(tokens[j + 1].t)
        j += 2
      }
      paths.push({ inline: inlineHere(), segs, line: tokens[k].line, reexport: false, isUse: false })
      k = j - 1
    }
  }
  return { paths, childDecls, inlineMods }
}

/** The module graph of one crate directory. */
export function moduleGraph(dir) {
  const files = []
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name)
      if (e.isDirectory()) walk(p)
      else if (e.name.endsWith('.rs')) files.push(p)
    }
  }
  walk(dir)
  if (files.length === 0) throw new Error(`${dir}: no .rs files`)

  const key = (segs) => segs.join('::')
  const show = (segs) => (segs.length ? segs.join('::') : 'crate')
  const modules = new Map() // module path key -> { file, node } (node = the file's module key)
  const parsed = []
  for (const file of files) {
    const rel = path.relative(dir, file)
    const self = modulePathOf(rel)
    const scan = scanFile(tokenize(fs.readFileSync(file, 'utf8')))
    modules.set(key(self), { file: rel, node: key(self) })
    for (const inline of scan.inlineMods) modules.set(key([...self, ...inline]), { file: rel, node: key(self) })
    parsed.push({ rel, self, scan })
  }
  // Children declared with `mod x;` in each module (also those without a file here: #[path]).
  const children = new Map()
  for (const { self, scan } of parsed) {
    for (const d of scan.childDecls) {
      const parent = key([...self, ...d.inline])
      if (!children.has(parent)) children.set(parent, new Set())
      children.get(parent).add(d.name)
    }
    for (const inline of scan.inlineMods) {
      const parent = key([...self, ...inline.slice(0, -1)])
      if (!children.has(parent)) children.set(parent, new Set())
      children.get(parent).add(inline[inline.length - 1])
    }
  }
  // Re-exports: module key -> name -> absolute path it stands for.
  const reexports = new Map()

  /** Absolute segments of a path written in module `at`, or null for an external path. */
  const absolute = (at, segs) => {
    let base = [...at]
    let i = 0
    if (segs[0] === 'crate') {
      base = []
      i = 1
    } else if (segs[0] === 'self') i = 1
    else if (segs[0] === 'super') {
      while (segs[i] === 'super') {
        base.pop()
        i++
      }
    } else if (!children.get(key(at))?.has(segs[0])) {
      return null // an external crate, a type's associated item, a local
    }
    return [...base, ...segs.slice(i)]
  }

  for (const { self, scan } of parsed) {
    for (const p of scan.paths) {
      if (!p.reexport) continue
      const at = [...self, ...p.inline]
      const abs = absolute(at, p.segs)
      if (!abs || abs.length === 0) continue
      if (!reexports.has(key(at))) reexports.set(key(at), new Map())
      reexports.get(key(at)).set(abs[abs.length - 1], abs)
    }
  }

  /** The file module a path lands in, following re-exports; null if not in this crate. */
  const resolve = (abs, seen = 0) => {
    for (let len = abs.length; len >= 0; len--) {
      const m = modules.get(key(abs.slice(0, len)))
      if (!m) continue
      const next = abs[len]
      const via = next !== undefined && reexports.get(key(abs.slice(0, len)))?.get(next)
      if (via && seen < 16 && key(via) !== key(abs.slice(0, len + 1))) {
        return resolve([...via, ...abs.slice(len + 1)], seen + 1) ?? m.node
      }
      return m.node
    }
    return null
  }

  const edges = new Map() // from -> to -> [file:line]
  for (const { rel, self, scan } of parsed) {
    const from = key(self)
    if (!edges.has(from)) edges.set(from, new Map())
    for (const p of scan.paths) {
      if (p.reexport) continue
      const abs = absolute([...self, ...p.inline], p.segs)
      if (!abs) continue
      const to = resolve(abs)
      if (to === null || to === from) continue
      const seen = edges.get(from)
      if (!seen.has(to)) seen.set(to, [])
      const where = `${rel}:${p.line}`
      if (!seen.get(to).includes(where)) seen.get(to).push(where)
    }
  }
  return { edges, show: (k) => show(k === '' ? [] : k.split('::')) }
}

/** Strongly connected components with more than one module (Tarjan), each with one circle. */
export function findCycles(edges) {
  const index = new Map()
  const low = new Map()
  const onStack = new Set()
  const stack = []
  const sccs = []
  let next = 0
  const connect = (v) => {
    index.set(v, next)
    low.set(v, next++)
    stack.push(v)
    onStack.add(v)
    for (const w of edges.get(v)?.keys() ?? []) {
      if (!index.has(w)) {
        connect(w)
        low.set(v, Math.min(low.get(v), low.get(w)))
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)))
    }
    if (low.get(v) === index.get(v)) {
      const scc = []
      let w
      do {
        w = stack.pop()
        onStack.delete(w)
        scc.push(w)
      } while (w !== v)
      if (scc.length > 1) sccs.push(scc.sort())
    }
  }
  for (const v of [...edges.keys()].sort()) if (!index.has(v)) connect(v)
  // One concrete circle per component: a shortest way back from its first module to itself.
  return sccs.map((scc) => {
    const members = new Set(scc)
    const start = scc[0]
    const prev = new Map([[start, null]])
    const queue = [start]
    let last = null
    while (queue.length && last === null) {
      const v = queue.shift()
      for (const w of [...(edges.get(v)?.keys() ?? [])].sort()) {
        if (!members.has(w)) continue
        if (w === start) {
          last = v
          break
        }
        if (!prev.has(w)) {
          prev.set(w, v)
          queue.push(w)
        }
      }
    }
    const circle = []
    for (let v = last; v !== null; v = prev.get(v)) circle.unshift(v)
    circle.push(start)
    return { modules: scc, circle }
  })
}

function main(argv) {
  const quiet = argv.includes('--quiet')
  const dirs = argv.filter((a) => !a.startsWith('--'))
  if (dirs.length === 0) {
    console.error('usage: node scripts/module-cycles.mjs [--quiet] DIR...  (crate source directories)')
    return 2
  }
  let failed = false
  for (const dir of dirs) {
    let graph
    try {
      graph = moduleGraph(dir)
    } catch (e) {
      console.error(`module-cycles: ${e.message}`)
      return 2
    }
    const { edges, show } = graph
    if (!quiet) {
      console.log(`${dir}:`)
      for (const [from, tos] of [...edges].sort(([a], [b]) => a.localeCompare(b))) {
        const list = [...tos.keys()].sort().map(show)
        console.log(`  ${show(from)} -> ${list.length ? list.join(', ') : '(nothing)'}`)
      }
    }
    const cycles = findCycles(edges)
    for (const { modules, circle } of cycles) {
      failed = true
      console.error(`${dir}: import circle between ${modules.map(show).join(', ')}:`)
      for (let i = 0; i + 1 < circle.length; i++) {
        const where = edges.get(circle[i]).get(circle[i + 1])
        console.error(`  ${show(circle[i])} -> ${show(circle[i + 1])}  (${where.slice(0, 3).join(', ')})`)
      }
    }
    if (cycles.length === 0) console.log(`${dir}: no import circles`)
  }
  return failed ? 1 : 0
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) process.exitCode = main(process.argv.slice(2))
