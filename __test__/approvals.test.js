'use strict'
// Approvals against the real codex (stand-in model, temp workspace), and server requests the
// real codex will not send offline (scripted fake server).

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const {
  ApprovalPolicy,
  Session,
  approveFileChange,
  declineFileChange,
  toolAnswers,
  toolCallSuccess,
} = require('../main.js')
const { fakeServer } = require('../testing/fake-scenario.js')
const { reply, withSession, rejection } = require('./helpers.js')

const T = { timeout: 60_000 }

function workspace() {
  return fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'codex-native-ws-')))
}

/** Thread params that make codex ask before running anything. */
const asking = (cwd, sandbox = 'workspace-write') => ({ cwd, approvalPolicy: 'untrusted', sandbox })

/** A session on the real codex with `extra` options (approval policy first, for reading). */
const withApprovals = (extra, fn) => withSession(fn, extra)

test('default policy: the command never runs and its item is declined', T, async () => {
  await withApprovals({}, async (session, model) => {
    const cwd = workspace()
    model.enqueue(reply.execCommand('touch marker.txt'), reply.text('ok, not running it'))
    const thread = await session.startThread(asking(cwd))
    const turn = await thread.startTurn('make a marker')
    const events = []
    for await (const e of turn) events.push(e)
    const result = await turn.result()
    assert.equal(result.status, 'completed')
    assert.equal(fs.existsSync(path.join(cwd, 'marker.txt')), false, 'the command ran')
    const item = result.items.find((i) => i.type === 'commandExecution')
    assert.equal(item.status, 'declined')
    // The pending request was visible in the turn's stream, and then its resolution.
    const asked = events.findIndex((e) => e.method === 'serverRequest')
    assert.ok(asked >= 0, events.map((e) => e.method).join())
    assert.equal(events[asked].params.method, 'item/commandExecution/requestApproval')
    assert.match(events[asked].params.params.command, /touch marker\.txt/)
    const resolved = events.findIndex((e) => e.method === 'serverRequest/resolved')
    assert.ok(resolved > asked, 'resolution follows the request in the stream')
    assert.deepEqual(events[resolved].params.requestId, events[asked].params.requestId)
    assert.equal(session._stats().pendingServerRequests, 0)
  })
})

test('autoAccept with a workspace-write sandbox: the command runs and its output reaches the model', T, async () => {
  await withApprovals({ approvalPolicy: ApprovalPolicy.autoAccept() }, async (session, model) => {
    const cwd = workspace()
    model.enqueue(reply.execCommand('touch marker.txt && echo made-marker'), reply.text('done'))
    const thread = await session.startThread(asking(cwd))
    const result = await thread.run('make a marker')
    assert.equal(result.status, 'completed')
    assert.equal(fs.existsSync(path.join(cwd, 'marker.txt')), true)
    const outputs = model.requests.at(-1).functionOutputs
    assert.ok(outputs.some((o) => o.output.includes('made-marker')), JSON.stringify(outputs))
  })
})

test('a custom async handler can take its time while other turns keep streaming', T, async () => {
  let releaseHandler
  const otherTurnStreamed = new Promise((resolve) => (releaseHandler = resolve))
  const policy = ApprovalPolicy.custom({
    onCommandExecution: async (params, { signal }) => {
      assert.ok(signal instanceof AbortSignal)
      assert.match(params.command, /touch slow\.txt/)
      const started = Date.now()
      await otherTurnStreamed // only resolves if events keep flowing while we wait
      await new Promise((r) => setTimeout(r, Math.max(0, 200 - (Date.now() - started))))
      return { decision: 'accept' }
    },
  })
  await withApprovals({ approvalPolicy: policy }, async (session, model) => {
    const cwd = workspace()
    model.respondWith((req) => {
      if (req.lastUserText === 'slow approval' && req.functionOutputs.length === 0) return reply.execCommand('touch slow.txt')
      if (req.lastUserText === 'stream meanwhile') return reply.text('streaming while the other waits', { chunks: 6, delayMs: 10 })
      return reply.text('finished')
    })
    const a = await session.startThread(asking(cwd))
    const b = await session.startThread()
    const turnA = await a.startTurn('slow approval')
    await session.waitForNotification('item/started', { predicate: (p) => p.threadId === a.id && p.item.type === 'commandExecution' })
    const turnB = await b.startTurn('stream meanwhile')
    let deltas = 0
    for await (const e of turnB) if (e.method === 'item/agentMessage/delta') deltas++
    assert.equal(deltas, 6)
    assert.equal(turnA.finished, false, 'turn A is still waiting for its handler')
    releaseHandler()
    const result = await turnA.result()
    assert.equal(result.status, 'completed')
    assert.equal(fs.existsSync(path.join(cwd, 'slow.txt')), true)
  })
})

test('a throwing handler declines the request and the error reaches onError; so does a rejecting one', T, async () => {
  const errors = []
  let calls = 0
  const policy = ApprovalPolicy.custom({
    onCommandExecution: () => {
      // The first call throws; the second returns a Promise that rejects.
      if (++calls === 1) throw new Error('handler exploded')
      return Promise.reject(new Error('handler rejected'))
    },
  })
  await withApprovals({ approvalPolicy: policy, onError: (e) => errors.push(e) }, async (session, model) => {
    const cwd = workspace()
    for (const [file, message] of [['boom.txt', /handler exploded/], ['rejected.txt', /handler rejected/]]) {
      model.enqueue(reply.execCommand(`touch ${file}`), reply.text('declined then'))
      const result = await (await session.startThread(asking(cwd))).run('x')
      assert.equal(result.status, 'completed')
      assert.equal(fs.existsSync(path.join(cwd, file)), false)
      assert.equal(result.items.find((i) => i.type === 'commandExecution').status, 'declined')
      assert.equal(errors.length, 1)
      assert.match(errors.shift().message, message)
    }
    assert.equal(calls, 2)
  })
})

test('file changes: accepted -> written; declined -> not written (per-thread policies)', T, async () => {
  await withApprovals({}, async (session, model) => {
    const cwd = workspace()
    model.respondWith((req) =>
      req.functionOutputs.length === 0 ? reply.applyPatch([{ path: `${req.lastUserText}.txt`, contents: 'hello\n' }]) : reply.text('patched?'),
    )
    const seen = []
    const accepting = await session.startThread(asking(cwd, 'read-only'), {
      approvalPolicy: ApprovalPolicy.custom({
        onFileChange: (params) => {
          seen.push(params.itemId)
          return approveFileChange()
        },
      }),
    })
    const declining = await session.startThread(asking(cwd, 'read-only'), {
      approvalPolicy: ApprovalPolicy.custom({ onFileChange: () => declineFileChange() }),
    })
    assert.equal((await accepting.run('accepted')).status, 'completed')
    assert.equal(fs.readFileSync(path.join(cwd, 'accepted.txt'), 'utf8'), 'hello\n')
    assert.equal(seen.length, 1)
    const declined = await declining.run('declined')
    assert.equal(declined.status, 'completed')
    assert.equal(fs.existsSync(path.join(cwd, 'declined.txt')), false)
  })
})

test('malformed answers and handler timeouts decline, and are reported', T, async () => {
  const errors = []
  // Every message to and from codex: what the client answered each approval request with.
  const messages = []
  const answerTo = (method) => {
    const asked = messages.filter((m) => m.direction === 'in' && m.message.method === method).at(-1)
    assert.ok(asked, `codex sent no ${method}`)
    const answers = messages.filter((m) => m.direction === 'out' && m.message.id === asked.message.id && !m.message.method)
    assert.equal(answers.length, 1, 'answered exactly once')
    return answers[0].message
  }
  const policy = ApprovalPolicy.custom({ onCommandExecution: () => ({ verdict: 'yes please' }) })
  const options = { approvalPolicy: policy, onError: (e) => errors.push(e), onMessage: (m) => messages.push(m), handlerTimeoutMs: 300 }
  await withApprovals(options, async (session, model) => {
    const cwd = workspace()
    model.enqueue(reply.execCommand('touch malformed.txt'), reply.text('no'))
    const malformed = await (await session.startThread(asking(cwd))).run('x')
    assert.equal(fs.existsSync(path.join(cwd, 'malformed.txt')), false)
    assert.match(errors[0].message, /needs `decision`/)
    // Declined by the client, not the malformed answer passed on for codex to reject.
    assert.deepEqual(answerTo('item/commandExecution/requestApproval').result, { decision: 'decline' })
    assert.equal(malformed.items.find((i) => i.type === 'commandExecution').status, 'declined')

    let aborted
    const slow = ApprovalPolicy.custom({
      onCommandExecution: (_params, { signal }) =>
        new Promise((resolve) => {
          signal.addEventListener('abort', () => {
            aborted = true
            resolve({ decision: 'accept' })
          })
        }),
    })
    model.enqueue(reply.execCommand('touch late.txt'), reply.text('no'))
    const thread = await session.startThread(asking(cwd), { approvalPolicy: slow })
    const result = await thread.run('y')
    assert.equal(result.items.find((i) => i.type === 'commandExecution').status, 'declined')
    assert.equal(fs.existsSync(path.join(cwd, 'late.txt')), false)
    assert.equal(aborted, true, 'the handler was told to stop')
    assert.ok(errors.some((e) => e.code === 'REQUEST_TIMEOUT' && /handler for item\/commandExecution/.test(e.message)))
    assert.deepEqual(answerTo('item/commandExecution/requestApproval').result, { decision: 'decline' })
  })
})

test('onServerRequest overrides any policy for its method', T, async () => {
  await withApprovals({ approvalPolicy: ApprovalPolicy.autoAccept() }, async (session, model) => {
    const cwd = workspace()
    const off = session.onServerRequest('item/commandExecution/requestApproval', () => ({ decision: 'decline' }))
    model.enqueue(reply.execCommand('touch overridden.txt'), reply.text('x'))
    await (await session.startThread(asking(cwd))).run('x')
    assert.equal(fs.existsSync(path.join(cwd, 'overridden.txt')), false)
    off()
    model.enqueue(reply.execCommand('touch accepted.txt'), reply.text('x'))
    await (await session.startThread(asking(cwd))).run('y')
    assert.equal(fs.existsSync(path.join(cwd, 'accepted.txt')), true)
  })
})

test('dynamic tools: the handler answers item/tool/call and the model receives its output', T, async () => {
  const calls = []
  const policy = ApprovalPolicy.custom({
    onDynamicToolCall: async (params) => {
      calls.push(params)
      return toolCallSuccess(`the answer is ${params.arguments.a + params.arguments.b}`)
    },
  })
  await withApprovals({ approvalPolicy: policy, experimentalApi: true }, async (session, model) => {
    model.enqueue(reply.functionCall('add_numbers', { a: 19, b: 23 }), reply.text('it is 42'))
    const thread = await session.startThread({
      dynamicTools: [
        {
          name: 'add_numbers',
          description: 'Adds two numbers',
          inputSchema: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] },
        },
      ],
    })
    const result = await thread.run('add 19 and 23')
    assert.equal(result.status, 'completed')
    assert.equal(calls.length, 1)
    assert.equal(calls[0].tool, 'add_numbers')
    const outputs = model.requests.at(-1).functionOutputs
    assert.ok(outputs.some((o) => o.output.includes('the answer is 42')), JSON.stringify(outputs))
  })
})

// codex offers request_user_input only in Plan collaboration mode, which the stand-in cannot
// switch on offline; the scripted fake server sends the request instead.
/** `promise`, or a failure saying `what` after 5 s. */
async function within(promise, what) {
  let timer
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(what)), 5000)
  })
  return Promise.race([promise, late]).finally(() => clearTimeout(timer))
}

test('requestUserInput (fake server): the answer reaches the server; the signal aborts when the turn ends', T, async () => {
  const fake = fakeServer({
    turns: {
      1: {
        deltas: 1,
        at: {
          1: [
            {
              do: 'serverRequest',
              method: 'item/tool/requestUserInput',
              params: { threadId: '$threadId', turnId: '$turnId', itemId: 'q1', questions: [{ id: 'color', question: 'Which colour?' }], isBlocking: true, autoResolutionMs: null },
            },
          ],
        },
      },
      2: { hang: true, deltas: 1, at: { 1: [{ do: 'approval', command: 'ls', await: false }] } },
    },
  })
  let abortedByTurnEnd
  const handlerAborted = new Promise((resolve) => (abortedByTurnEnd = resolve))
  let handlerCalled
  const called = new Promise((resolve) => (handlerCalled = resolve))
  const policy = ApprovalPolicy.custom({
    onToolRequestUserInput: (params) => toolAnswers({ [params.questions[0].id]: 'blue' }),
    onCommandExecution: (_p, { signal }) => {
      handlerCalled()
      return new Promise((resolve) =>
        signal.addEventListener('abort', () => {
          abortedByTurnEnd()
          resolve({ decision: 'accept' })
        }),
      )
    },
  })
  const session = await Session.create({ ...fake, approvalPolicy: policy })
  try {
    const thread = await session.startThread()
    assert.equal((await thread.run('ask me')).status, 'completed')
    const answer = fake.answers().find((a) => a.result?.answers)
    assert.deepEqual(answer.result, { answers: { color: { answers: ['blue'] } } })

    const turn = await thread.startTurn('never ends')
    for await (const e of turn) {
      // The approval request is pending once it shows in the stream.
      if (e.method === 'serverRequest') break
    }
    // ...and its handler is running once it was called (the request reaches JavaScript by its
    // own queue; an abort that overtakes it is the next test's case). The bound's timer also
    // keeps Node alive meanwhile: the queue that brings the call holds nothing alive.
    await within(called, 'the handler was not called within 5 s of the request showing in the stream')
    await turn.interrupt()
    assert.equal((await turn.result()).status, 'interrupted')
    // The end of the turn aborts the handler, with the session still open (close() aborts
    // everything too, so checking after it would prove nothing). The abort reaches JavaScript
    // by its own queue, so it may land just after the result: wait for it, within a bound.
    await within(handlerAborted, 'the handler was not aborted within 5 s of the turn ending')
    assert.equal(session.closed, false)
  } finally {
    await session.close()
    fake.cleanup()
  }
})

test('an abort that overtakes its request: the handler is never asked, the request is declined', async () => {
  // The request and its abort reach JavaScript through different ThreadsafeFunctions, so the
  // abort can come first (a turn interrupted while its approval was on the way).
  const { Handlers, ApprovalPolicy: Policy } = require('../js/approvals.js')
  const reported = []
  const handlers = new Handlers({ report: (e) => reported.push(e) })
  let asked = 0
  const policy = Policy.custom({ onCommandExecution: () => (asked++, { decision: 'accept' }) })
  handlers.addPolicy(policy)
  const request = (requestKey) =>
    JSON.stringify({ key: policy.key, requestKey, id: 1, method: 'item/commandExecution/requestApproval', threadId: 't', turnId: 'u', params: {} })
  handlers.abort('41')
  assert.deepEqual(JSON.parse(await handlers.dispatch(request('41'))), { decline: 'no longer pending' })
  assert.equal(asked, 0)
  // Taken once: the next request with another key is asked as usual.
  assert.deepEqual(JSON.parse(await handlers.dispatch(request('42'))), { result: { decision: 'accept' } })
  assert.equal(asked, 1)
  // An abort for a request that already finished is remembered, but never grows without bound.
  for (let i = 0; i < 5000; i++) handlers.abort(`late-${i}`)
  assert.ok(handlers.abortedEarly.size <= 1024, `${handlers.abortedEarly.size}`)
  assert.deepEqual(reported, [])
})

test('bad policies are TypeErrors naming the option', T, async () => {
  assert.throws(() => ApprovalPolicy.custom({ onCommand: () => {} }), /handlers\.onCommand/)
  assert.throws(() => ApprovalPolicy.custom({ onFileChange: 'yes' }), /handlers\.onFileChange/)
  const err = await rejection(Session.create({ approvalPolicy: 'autoAccept', codexPath: '/nonexistent' }))
  assert.equal(err.code, 'INVALID_ARGUMENT')
  assert.match(err.message, /approvalPolicy/)
})
