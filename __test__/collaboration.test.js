'use strict'
// Collaboration modes (experimental in the pinned protocol): `collaborationMode` on a turn,
// `session.listCollaborationModes()`, and plan mode's `request_user_input` answered by
// `onToolRequestUserInput`. Real codex + the loopback stand-in.

const test = require('node:test')
const assert = require('node:assert/strict')
const { ApprovalPolicy, toolAnswers } = require('../main.js')
const { withSession, reply, rejection } = require('./helpers.js')

const T = { timeout: 60_000 }
const plan = { mode: 'plan', settings: { model: 'mock-model', reasoning_effort: null, developer_instructions: null } }
const question = {
  questions: [
    {
      id: 'db',
      header: 'Database',
      question: 'Which database should the plan use?',
      options: [
        { label: 'Postgres', description: 'a server' },
        { label: 'SQLite', description: 'a file' },
      ],
    },
  ],
}

test('listCollaborationModes() lists the presets, plan among them', T, async () => {
  await withSession(
    async (session) => {
      const { data } = await session.listCollaborationModes()
      assert.ok(Array.isArray(data))
      assert.deepEqual(data.map((m) => m.mode).sort(), ['default', 'plan'])
    },
    { experimentalApi: true },
  )
})

test('without experimentalApi, collaborationMode is an INVALID_ARGUMENT naming it, and nothing is sent', T, async () => {
  await withSession(async (session, model) => {
    model.respondWith(() => reply.text('unused'))
    const thread = await session.startThread()
    for (const run of [() => thread.startTurn('x', { collaborationMode: plan }), () => thread.ask('x', { collaborationMode: plan })]) {
      const err = await rejection(run())
      assert.ok(err instanceof TypeError)
      assert.equal(err.code, 'INVALID_ARGUMENT')
      assert.match(err.message, /options\.collaborationMode.*experimentalApi: true/)
    }
    assert.equal(model.requests.length, 0, 'no turn reached the model')
    // null means "not set", as for the protocol's other optional fields.
    assert.equal(await thread.ask('y', { collaborationMode: null }), 'unused')
    // listCollaborationModes() is refused by the server itself.
    const err = await rejection(session.listCollaborationModes())
    assert.equal(err.code, 'RPC_ERROR')
    assert.match(err.rpcMessage, /requires experimentalApi/)
  })
})

test('a malformed collaborationMode is an INVALID_ARGUMENT even with experimentalApi', T, async () => {
  await withSession(
    async (session) => {
      const thread = await session.startThread()
      for (const bad of ['plan', ['plan'], 1]) {
        const err = await rejection(thread.startTurn('x', { collaborationMode: bad }))
        assert.equal(err.code, 'INVALID_ARGUMENT')
        assert.match(err.message, /options\.collaborationMode/)
      }
    },
    { experimentalApi: true },
  )
})

test('plan mode: the model calls request_user_input, onToolRequestUserInput answers, the answer reaches the model', T, async () => {
  const asked = []
  const policy = ApprovalPolicy.custom({
    onToolRequestUserInput: async (params, { method, turnId }) => {
      asked.push({ params, method, turnId })
      return toolAnswers({ db: 'Postgres' })
    },
  })
  await withSession(
    async (session, model) => {
      model.enqueue(reply.functionCall('request_user_input', question, { callId: 'call_plan' }), reply.text('Plan: one table in Postgres.'))
      const thread = await session.startThread()
      const turn = await thread.startTurn('Plan a todo app.', { collaborationMode: plan })
      const methods = []
      for await (const event of turn) methods.push(event.method === 'serverRequest' ? `serverRequest:${event.params.method}` : event.method)
      const result = await turn.result()
      assert.equal(result.status, 'completed')
      assert.equal(result.text, 'Plan: one table in Postgres.')
      assert.ok(methods.includes('serverRequest:item/tool/requestUserInput'), methods.join(', '))

      // The handler got the protocol's request for this turn.
      assert.equal(asked.length, 1)
      assert.equal(asked[0].method, 'item/tool/requestUserInput')
      assert.equal(asked[0].turnId, result.turnId)
      assert.deepEqual(asked[0].params.questions.map((q) => [q.id, q.question, q.options.map((o) => o.label)]), [
        ['db', 'Which database should the plan use?', ['Postgres', 'SQLite']],
      ])
      // The model was in plan mode, and got the answer as the tool's output.
      assert.match(JSON.stringify(model.requests[0].body.input), /<collaboration_mode># Plan Mode/)
      assert.deepEqual(model.requests[1].functionOutputs.map((o) => [o.callId, JSON.parse(o.output)]), [
        ['call_plan', { answers: { db: { answers: ['Postgres'] } } }],
      ])

      // Back in default mode, codex refuses the tool itself: plan mode is what allowed it.
      model.enqueue(reply.functionCall('request_user_input', question, { callId: 'call_default' }), reply.text('ok'))
      const mode = { ...plan, mode: 'default' }
      assert.equal(await thread.ask('And now?', { collaborationMode: mode }), 'ok')
      assert.equal(asked.length, 1, 'no second question reached the handler')
      const refused = model.requests[3].functionOutputs.find((o) => o.callId === 'call_default')
      assert.match(refused?.output ?? '', /unavailable in Default mode/)
    },
    { experimentalApi: true, approvalPolicy: policy },
  )
})
