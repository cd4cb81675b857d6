'use strict'
// `node scripts/generate.mjs --diff <version>`: the diff of two hand-made schema bundles
// (the shape of codex's codex_app_server_protocol.schemas.json) reports every method and
// field added, removed or changed, and nothing else.

const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { pathToFileURL } = require('node:url')

const load = () => import(pathToFileURL(path.join(__dirname, '..', 'scripts', 'generate.mjs')).href)

const request = (method, paramsRef) => ({
  properties: {
    id: { $ref: '#/definitions/v2/RequestId' },
    method: { enum: [method], type: 'string' },
    ...(paramsRef ? { params: { $ref: paramsRef } } : {}),
  },
  required: ['id', 'method', ...(paramsRef ? ['params'] : [])],
  type: 'object',
})
const notification = (method, paramsRef) => ({
  properties: { method: { enum: [method], type: 'string' }, params: { $ref: paramsRef } },
  required: ['method', 'params'],
  type: 'object',
})
const object = (properties, required = []) => ({ type: 'object', properties, required })

/** The pinned side: thread/start, thread/read, a server request, a notification. */
function before() {
  return {
    definitions: {
      ClientRequest: {
        oneOf: [
          request('thread/start', '#/definitions/v2/ThreadStartParams'),
          request('thread/read', '#/definitions/v2/ThreadReadParams'),
          request('old/method', '#/definitions/v2/OldMethodParams'),
        ],
      },
      ServerRequest: { oneOf: [request('item/approve', '#/definitions/ApproveParams')] },
      ServerNotification: {
        oneOf: [
          notification('turn/started', '#/definitions/v2/TurnStartedNotification'),
          notification('old/notice', '#/definitions/v2/TurnStartedNotification'),
        ],
      },
      ClientNotification: { oneOf: [{ properties: { method: { enum: ['initialized'], type: 'string' } }, required: ['method'] }] },
      ApproveParams: object({ command: { type: 'string' } }, ['command']),
      ApproveResponse: object({ decision: { enum: ['accept', 'decline'], type: 'string' } }, ['decision']),
      v2: {
        RequestId: { anyOf: [{ type: 'string' }, { type: 'integer' }] },
        ThreadStartParams: object({
          cwd: { type: ['string', 'null'] },
          model: { type: ['string', 'null'] },
          sandbox: { anyOf: [{ $ref: '#/definitions/v2/Sandbox' }, { type: 'null' }] },
        }),
        Sandbox: {
          oneOf: [
            object({ type: { enum: ['readOnly'], type: 'string' } }, ['type']),
            object({ type: { enum: ['workspaceWrite'], type: 'string' }, roots: { type: 'array', items: { type: 'string' } } }, ['type']),
          ],
        },
        ThreadStartResponse: object({ thread: { $ref: '#/definitions/v2/Thread' } }, ['thread']),
        Thread: object({ id: { type: 'string' }, turns: { type: 'array', items: { $ref: '#/definitions/v2/Thread' } } }, ['id']),
        ThreadReadParams: object({ threadId: { type: 'string' } }, ['threadId']),
        ThreadReadResponse: object({ thread: { $ref: '#/definitions/v2/Thread' } }, ['thread']),
        OldMethodParams: object({}),
        OldMethodResponse: object({}),
        TurnStartedNotification: object({ threadId: { type: 'string' } }, ['threadId']),
      },
    },
  }
}

/**
 * The other version: old/method and old/notice gone; new/method, a server request and a
 * notification added; thread/start params lose `model`, gain `effort`, `cwd` becomes
 * required, Sandbox gains a variant and workspaceWrite loses `roots`; Thread (in the
 * result of two methods) gains `name`; ApproveResponse gains a decision value.
 */
function after() {
  const doc = before()
  const d = doc.definitions
  d.ClientRequest.oneOf = [
    request('thread/start', '#/definitions/v2/ThreadStartParams'),
    request('thread/read', '#/definitions/v2/ThreadReadParams'),
    request('new/method', '#/definitions/v2/NewMethodParams'),
  ]
  d.ServerRequest.oneOf.push(request('tool/call', '#/definitions/ToolCallParams'))
  d.ServerNotification.oneOf = [
    notification('turn/started', '#/definitions/v2/TurnStartedNotification'),
    notification('turn/finished', '#/definitions/v2/TurnStartedNotification'),
  ]
  d.ToolCallParams = object({})
  d.ToolCallResponse = object({})
  d.ApproveResponse.properties.decision.enum.push('acceptForSession')
  d.v2.NewMethodParams = object({})
  d.v2.NewMethodResponse = object({})
  delete d.v2.OldMethodParams
  delete d.v2.OldMethodResponse
  d.v2.ThreadStartParams = object(
    {
      cwd: { type: 'string' },
      effort: { type: ['string', 'null'] },
      sandbox: { anyOf: [{ $ref: '#/definitions/v2/Sandbox' }, { type: 'null' }] },
    },
    ['cwd'],
  )
  d.v2.Sandbox.oneOf[1] = object({ type: { enum: ['workspaceWrite'], type: 'string' } }, ['type'])
  d.v2.Sandbox.oneOf.push(object({ type: { enum: ['fullAccess'], type: 'string' } }, ['type']))
  d.v2.Thread.properties.name = { type: ['string', 'null'] }
  return doc
}

test('the diff reports every method added and removed, per union', async () => {
  const { diffProtocols } = await load()
  const { methods } = diffProtocols(before(), after())
  assert.deepEqual(methods, {
    ClientRequest: { added: ['new/method'], removed: ['old/method'] },
    ServerRequest: { added: ['tool/call'], removed: [] },
    ServerNotification: { added: ['turn/finished'], removed: ['old/notice'] },
    ClientNotification: { added: [], removed: [] },
  })
})

test('the diff reports every params/result field added, removed or changed, per common method', async () => {
  const { diffProtocols } = await load()
  const { fields } = diffProtocols(before(), after())
  const byKey = Object.fromEntries(fields.map((e) => [`${e.method} ${e.part}`, e]))
  assert.deepEqual(Object.keys(byKey).sort(), ['item/approve result', 'thread/read result', 'thread/start params', 'thread/start result'])

  const start = byKey['thread/start params']
  assert.deepEqual(start.added, ['/effort', '/sandbox/oneOf(fullAccess)', '/sandbox/oneOf(fullAccess)/type', '/sandbox/oneOf(fullAccess)/type="fullAccess"'])
  assert.deepEqual(start.removed, ['/model', '/sandbox/oneOf(workspaceWrite)/roots', '/sandbox/oneOf(workspaceWrite)/roots[]'])
  assert.deepEqual(start.changed, [{ path: '/cwd', from: 'null|string', to: 'required string' }])

  // Thread is reached from two results; its recursion (turns[] is Thread again) stops there.
  for (const key of ['thread/start result', 'thread/read result']) {
    assert.deepEqual(byKey[key].added, ['/thread/name'], key)
    assert.deepEqual(byKey[key].removed, [], key)
    assert.deepEqual(byKey[key].changed, [], key)
  }
  assert.deepEqual(byKey['item/approve result'].added, ['/decision="acceptForSession"'])
})

test('identical protocols have an empty diff, and the counts add up', async () => {
  const { diffProtocols, diffCounts } = await load()
  const same = diffProtocols(before(), before())
  assert.deepEqual(same.fields, [])
  assert.ok(Object.values(same.methods).every((m) => m.added.length === 0 && m.removed.length === 0))
  assert.deepEqual(diffCounts(diffProtocols(before(), after())), {
    methodsAdded: 3,
    methodsRemoved: 2,
    fieldsAdded: 7,
    fieldsRemoved: 3,
    fieldsChanged: 1,
    methodsWithFieldChanges: 3,
  })
})

test('a bundle without a method union is an error naming it', async () => {
  const { diffProtocols } = await load()
  const broken = before()
  delete broken.definitions.ServerRequest
  assert.throws(() => diffProtocols(broken, after()), /no ServerRequest union/)
})
