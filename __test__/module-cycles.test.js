'use strict'
// No import circles between the modules of the Rust crates (scripts/module-cycles.mjs), and the
// checker itself finds circles in the shapes Rust allows (mod.rs, nested files, inline modules,
// super::, use groups, re-exports) without being fooled by comments and strings.

const test = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const root = path.join(__dirname, '..')
const script = path.join(root, 'scripts', 'module-cycles.mjs')

function run(...args) {
  const r = spawnSync(process.execPath, [script, ...args], { cwd: root, encoding: 'utf8' })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** A crate directory made of `files` ({ 'a/mod.rs': source }), removed after the test. */
function crate(t, files) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'module-cycles-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  for (const [name, source] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true })
    fs.writeFileSync(path.join(dir, name), source)
  }
  return dir
}

for (const dir of ['crates/app-server-client/src', 'src']) {
  test(`${dir} has no import circles`, () => {
    const r = run(dir)
    assert.equal(r.status, 0, r.stderr)
    assert.match(r.stdout, /no import circles/)
  })
}

test('the core crate is layered: the shared primitives depend on no higher layer', () => {
  const r = run('crates/app-server-client/src')
  const deps = Object.fromEntries(
    r.stdout
      .split('\n')
      .map((l) => /^ {2}(\S+) -> (.*)$/.exec(l))
      .filter(Boolean)
      .map(([, from, to]) => [from, to === '(nothing)' ? [] : to.split(', ')]),
  )
  assert.deepEqual(deps.lock, [])
  assert.deepEqual(deps.wake_batch, ['lock'])
  assert.deepEqual(deps.outgoing, ['error'])
  for (const high of ['connection', 'turn', 'session']) {
    assert.ok(!deps.router.includes(high), `router -> ${high}`)
    assert.ok(!deps.turn_state.includes(high), `turn_state -> ${high}`)
  }
})

test('a circle through a mod.rs module and a use group is found, with where each edge is', (t) => {
  const dir = crate(t, {
    'lib.rs': 'mod a;\nmod b;\npub use a::Thing;\n',
    'a/mod.rs': 'mod inner;\nuse crate::{b::{self, Other}, c};\npub struct Thing;\n',
    'a/inner.rs': 'pub fn f() {}\n',
    'b.rs': 'pub struct Other;\nfn g() -> crate::a::Thing { crate::a::Thing }\n',
  })
  const r = run(dir)
  assert.equal(r.status, 1)
  assert.match(r.stderr, /import circle between a, b/)
  assert.match(r.stderr, /a -> b {2}\(a[/\\]mod\.rs:2\)/)
  assert.match(r.stderr, /b -> a {2}\(b\.rs:2\)/)
})

test('a circle through a nested file module and super:: is found', (t) => {
  const dir = crate(t, {
    'lib.rs': 'mod outer;\nmod other;\n',
    'outer.rs': 'mod deep;\npub fn top() { deep::go() }\n',
    'outer/deep.rs': 'pub fn go() { crate::other::help() }\n',
    'other.rs': 'pub fn help() { super::outer::top() }\n',
  })
  const r = run(dir)
  assert.equal(r.status, 1)
  assert.match(r.stderr, /import circle between other, outer, outer::deep/)
})

test('re-exports, inline test modules, comments and strings make no circle', (t) => {
  const dir = crate(t, {
    // The root re-exports everything and a module uses an item through the root.
    'lib.rs': 'mod a;\nmod b;\npub use a::A;\npub(crate) use b::helper;\n',
    'a.rs': [
      'pub struct A;',
      'pub fn uses_b() { crate::helper() }',
      '#[cfg(test)]',
      'mod tests {',
      '    use super::*;',
      '    mod deeper { use super::super::A; }',
      '}',
    ].join('\n'),
    'b.rs': [
      'pub fn helper() {}',
      '// crate::a::A in a comment, /* crate::a::A */ nested /* /* */ crate::a::A */',
      "/// See [`A`](crate::a::A).",
      'const S: &str = "crate::a::A";',
      'const R: &str = r#"crate::a::A "quoted" "#;',
      "const C: char = '\"'; fn l<'a>(x: &'a str) -> &'a str { x }",
    ].join('\n'),
  })
  const r = run(dir)
  assert.equal(r.status, 0, r.stderr)
  assert.match(r.stdout, / {2}a -> b\n/)
  assert.match(r.stdout, / {2}b -> \(nothing\)\n/)
})

test('a directory without Rust files is an error, not a pass', (t) => {
  const dir = crate(t, { 'README.md': 'no code here' })
  const r = run(dir)
  assert.equal(r.status, 2)
  assert.match(r.stderr, /no \.rs files/)
})
