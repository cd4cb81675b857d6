'use strict'
// The pass-through protocol methods (listModels, thread.setName, ...) are generated from the
// pinned schema by scripts/generate.mjs (PUBLIC_METHODS) into js/generated/: the committed
// files are what the schema makes, a table entry the schema lacks fails generation, and each
// method sends the params its table entry says.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { pathToFileURL } = require('node:url')
const { Session } = require('../main.js')
const { fakeServer, act } = require('../testing/fake-scenario.js')
const { rejection } = require('./helpers.js')

const ROOT = path.join(__dirname, '..')
const SCHEMA = path.join(ROOT, 'protocol', 'schema')
const load = () => import(pathToFileURL(path.join(ROOT, 'scripts', 'generate.mjs')).href)
const header = () => {
  const { version } = require('@openai/codex/package.json')
  return `// Generated from codex ${version} by scripts/generate.mjs. Do not edit.`
}

/** protocol/schema copied to a temp dir, with `edit` applied to its ClientRequest union. */
function editedSchema(edit) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'codex-native-methods-'))
  const dir = path.join(root, 'schema')
  fs.cpSync(SCHEMA, dir, { recursive: true })
  // Beside it, as in protocol/: the experimental entries of the table are read from there.
  fs.cpSync(path.join(ROOT, 'protocol', 'schema-experimental'), path.join(root, 'schema-experimental'), { recursive: true })
  const file = path.join(dir, 'ClientRequest.json')
  const union = JSON.parse(fs.readFileSync(file, 'utf8'))
  edit(union)
  fs.writeFileSync(file, JSON.stringify(union))
  return dir
}

test('js/generated/ is what the pinned schema (protocol/schema) makes of PUBLIC_METHODS', async () => {
  // `pnpm generate --check` checks the same against the codex binary; this needs no binary.
  const { methodFiles, PUBLIC_METHODS } = await load()
  const files = methodFiles(SCHEMA, header())
  assert.deepEqual([...files.keys()].sort(), fs.readdirSync(path.join(ROOT, 'js', 'generated')).sort())
  for (const [name, text] of files) {
    assert.equal(fs.readFileSync(path.join(ROOT, 'js', 'generated', name), 'utf8'), text, `js/generated/${name} is stale: run pnpm generate`)
  }
  // Every table entry is installed on the public classes, and none is native any more.
  const { Thread } = require('../main.js')
  for (const [cls, proto] of [['Session', Session.prototype], ['Thread', Thread.prototype]]) {
    for (const name of Object.keys(PUBLIC_METHODS[cls])) {
      assert.equal(typeof proto[name], 'function', `${cls}.${name}`)
      assert.equal(proto[name].name, name)
    }
  }
  const declarations = fs.readFileSync(path.join(ROOT, 'index.d.ts'), 'utf8')
  assert.match(declarations, /interface Session extends SessionMethods/)
  assert.match(declarations, /interface Thread extends ThreadMethods/)
})

test('a table entry naming a method absent from the schema makes the generator fail', async () => {
  const { methodFiles, PUBLIC_METHODS } = await load()
  // A codex bump that drops thread/name/set.
  const dropped = editedSchema((union) => {
    union.oneOf = union.oneOf.filter((e) => e.properties.method.enum[0] !== 'thread/name/set')
  })
  try {
    assert.throws(() => methodFiles(dropped, header()), /PUBLIC_METHODS\.Thread\.setName: thread\/name\/set is not a client request of the pinned schema/)
  } finally {
    fs.rmSync(path.dirname(dropped), { recursive: true, force: true })
  }
  // A bump that renames a field the table shapes.
  const renamed = editedSchema((union) => {
    const p = union.definitions.ThreadSetNameParams
    p.properties.title = p.properties.name
    delete p.properties.name
  })
  try {
    assert.throws(() => methodFiles(renamed, header()), /PUBLIC_METHODS\.Thread\.setName: thread\/name\/set params \(ThreadSetNameParams\) have no string field `name`/)
  } finally {
    fs.rmSync(path.dirname(renamed), { recursive: true, force: true })
  }
  // And a table entry that was never in it.
  const table = { Session: { ...PUBLIC_METHODS.Session, readSomething: { method: 'something/read', args: [], doc: '' } }, Thread: {} }
  assert.throws(() => methodFiles(SCHEMA, header(), table), /readSomething: something\/read is not a client request/)
  // An experimental entry is checked against the --experimental schema, not the stable one.
  const stableOnly = { Session: { listCollaborationModes: PUBLIC_METHODS.Session.listCollaborationModes }, Thread: {} }
  assert.throws(
    () => methodFiles(SCHEMA, header(), stableOnly, SCHEMA),
    /listCollaborationModes: collaborationMode\/list is not a client request of the pinned schema/,
  )
  // The real table against the real schema: no error.
  assert.ok(methodFiles(SCHEMA, header()).size === 2)
})

test('each generated method sends its method and params through the ordered request path', { timeout: 60_000 }, async () => {
  const scenario = {
    on: {
      'account/read': [act.respond({ account: null, requiresOpenaiAuth: false })],
      'account/login/start': [act.respond({ type: 'apiKey' })],
      'account/logout': [act.respond({})],
      'account/rateLimits/read': [act.respond({ rateLimits: { limitId: null } })],
      'config/read': [act.respond({ config: {}, origins: {} })],
      'thread/compact/start': [act.respond({})],
      'collaborationMode/list': [act.respond({ data: [{ name: 'Plan', mode: 'plan', model: null, reasoning_effort: 'medium' }] })],
    },
  }
  const fake = fakeServer(scenario)
  const session = await Session.create({ ...fake })
  try {
    const thread = await session.startThread()
    const id = thread.id
    const calls = [
      [() => session.readThread(id), 'thread/read', { threadId: id, includeTurns: false }],
      [() => session.readThread(id, { includeTurns: true }), 'thread/read', { threadId: id, includeTurns: true }],
      [() => session.listThreads({ limit: 5 }), 'thread/list', { limit: 5 }],
      [() => session.listThreads(), 'thread/list', {}],
      [() => session.archiveThread(id), 'thread/archive', { threadId: id }, undefined],
      [() => session.listModels(), 'model/list', {}],
      [() => session.readAccount({ refreshToken: true }), 'account/read', { refreshToken: true }],
      [() => session.loginWithApiKey('sk-x'), 'account/login/start', { type: 'apiKey', apiKey: 'sk-x' }, { type: 'apiKey' }],
      [() => session.logout(), 'account/logout', undefined, undefined],
      [() => session.readRateLimits(), 'account/rateLimits/read', undefined, { rateLimits: { limitId: null } }],
      [() => session.readConfig({ includeLayers: true }), 'config/read', { includeLayers: true }],
      [() => session.listCollaborationModes(), 'collaborationMode/list', {}, { data: [{ name: 'Plan', mode: 'plan', model: null, reasoning_effort: 'medium' }] }],
      [() => thread.read({ includeTurns: false }), 'thread/read', { threadId: id, includeTurns: false }],
      [() => thread.archive(), 'thread/archive', { threadId: id }, undefined],
      [() => thread.setName('n'), 'thread/name/set', { threadId: id, name: 'n' }, undefined],
      [() => thread.compact(), 'thread/compact/start', { threadId: id }, undefined],
      [() => thread.unsubscribe(), 'thread/unsubscribe', { threadId: id }, undefined],
    ]
    for (const [call, method, params, ...expected] of calls) {
      const before = fake.log().length
      const result = await call()
      const sent = fake.log().slice(before).filter((f) => f.method === method)
      assert.equal(sent.length, 1, `${method}: one request`)
      assert.deepEqual(sent[0].params ?? undefined, params, `${method}: params`)
      if (expected.length) assert.deepEqual(result, expected[0], `${method}: result`)
    }
    // Server errors come back as they do from the native path.
    const err = await rejection(session.readThread('thr_missing'))
    assert.equal(err.code, 'RPC_ERROR')
    assert.match(err.rpcMessage, /thread not found/)
    // So do bad arguments: INVALID_ARGUMENT TypeErrors naming the argument, before anything is sent.
    const before = fake.log().length
    for (const [call, name] of [
      [() => session.readThread(undefined), 'threadId'],
      [() => session.readThread(id, 'all'), 'options'],
      [() => session.listModels([]), 'params'],
      [() => session.readConfig({ cwd: Symbol('x') }), 'params.cwd'],
      [() => session.listThreads({ sourceKinds: [1, Infinity] }), 'params.sourceKinds[1]'],
      [() => thread.read({ includeTurns: 1 }), 'options.includeTurns'],
    ]) {
      const pending = call()
      assert.ok(pending instanceof Promise, `${name}: rejects, never throws`)
      const e = await rejection(pending)
      assert.ok(e instanceof TypeError, name)
      assert.equal(e.code, 'INVALID_ARGUMENT')
      assert.ok(e.message.includes(`\`${name}\``), `${name}: ${e.message}`)
    }
    const cyclic = { a: {} }
    cyclic.a.self = cyclic
    assert.equal((await rejection(session.listThreads(cyclic))).code, 'INVALID_ARGUMENT')
    assert.equal(fake.log().length, before, 'nothing sent for a bad argument')
  } finally {
    await session.close()
    fake.cleanup()
  }
  // On a closed session they reject SESSION_CLOSED, as every request does.
  assert.equal((await rejection(session.listModels())).code, 'SESSION_CLOSED')
})
