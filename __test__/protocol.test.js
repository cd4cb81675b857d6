'use strict'
// The typed methods and the generic request path, against the real codex.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { localImageInput, textInput, imageInput } = require('../main.js')
const { reply, withSession, withStandIn, createSession, rejection, tinyPng } = require('./helpers.js')

const T = { timeout: 90_000 }

const ids = (list) => list.data.map((t) => t.id)

test('thread lifecycle: list, read, name, archive, unarchive, resume, fork, rollback, compact', T, async () => {
  await withStandIn(async (model) => {
    model.respondWith((req) => reply.text(`answer: ${req.lastUserText ?? 'compaction'}`))
    const options = model.sessionOptions()
    const session = await createSession(model, options)
    let threadId
    try {
      const thread = await session.startThread()
      threadId = thread.id
      assert.equal((await thread.run('first')).text, 'answer: first')

      assert.ok(ids(await session.listThreads()).includes(threadId), 'listThreads finds the thread')
      const read = await thread.read({ includeTurns: true })
      assert.equal(read.thread.id, threadId)
      assert.equal(read.thread.turns.length, 1)
      const readViaSession = await session.readThread(threadId)
      assert.equal(readViaSession.thread.id, threadId)

      await thread.setName('my named thread')
      assert.equal((await thread.read()).thread.name, 'my named thread')

      await thread.archive()
      assert.ok(!ids(await session.listThreads()).includes(threadId), 'archived thread leaves the default list')
      assert.ok(ids(await session.listThreads({ archived: true })).includes(threadId), 'and shows with archived: true')
      await thread.unarchive()
      assert.ok(ids(await session.listThreads()).includes(threadId), 'unarchived thread is back')
      assert.equal((await thread.run('after unarchive')).text, 'answer: after unarchive', 'and usable')
      await session.archiveThread(threadId)
      const again = await session.unarchiveThread(threadId)
      assert.equal((await again.run('unarchived via session')).text, 'answer: unarchived via session')
    } finally {
      await session.close()
    }

    // A second session resumes the thread and runs another turn on it.
    const second = await createSession(model, options)
    try {
      const resumed = await second.resumeThread(threadId)
      assert.equal(resumed.id, threadId)
      assert.equal((await resumed.run('second')).text, 'answer: second')
      assert.equal((await resumed.read({ includeTurns: true })).thread.turns.length, 4)

      const fork = await resumed.fork()
      assert.notEqual(fork.id, threadId)
      assert.equal((await fork.run('on the fork')).text, 'answer: on the fork')
      assert.equal((await fork.read({ includeTurns: true })).thread.turns.length, 5)
      const forkViaSession = await second.forkThread(threadId)
      assert.notEqual(forkViaSession.id, fork.id)

      await resumed.rollback(1)
      const afterRollback = await resumed.read({ includeTurns: true })
      assert.equal(afterRollback.thread.turns.length, 3, 'rollback dropped the last turn')
      assert.equal((await rejection(resumed.rollback(5))).code, 'INVALID_ARGUMENT')

      // Compaction runs as a turn of its own that completes a contextCompaction item.
      const compacted = second.waitForNotification('item/completed', {
        predicate: (p) => p.threadId === threadId && p.item.type === 'contextCompaction',
        timeoutMs: 30_000,
      })
      await resumed.compact()
      await compacted
      await resumed.unsubscribe()
    } finally {
      await second.close()
    }
  })
})

test('listModels, exec with streamed output, account, rate limits and config', T, async () => {
  await withSession(async (session) => {
    const models = await session.listModels()
    assert.ok(Array.isArray(models.data))

    const exec = await session.exec(['echo', 'hi'])
    assert.equal(exec.exitCode, 0)
    assert.equal(exec.stdout, 'hi\n')

    const chunks = []
    const streamed = await session.exec(['sh', '-c', 'echo out; echo err >&2'], { onOutput: (c) => chunks.push(c) })
    assert.equal(streamed.exitCode, 0)
    const text = (stream) => Buffer.concat(chunks.filter((c) => c.stream === stream).map((c) => c.data)).toString()
    assert.equal(text('stdout'), 'out\n')
    assert.equal(text('stderr'), 'err\n')

    const account = await session.readAccount()
    assert.ok('account' in account)
    const config = await session.readConfig()
    assert.equal(config.config.model, 'mock-model')
    // Rate limits need a ChatGPT login; offline the server refuses, and we surface its error.
    const limits = await rejection(session.readRateLimits())
    assert.equal(limits.code, 'RPC_ERROR')
    assert.equal(limits.rpcCode, -32600)
    assert.match(limits.rpcMessage, /authentication required/)

    const updated = session.waitForNotification('account/updated', { timeoutMs: 10_000 })
    assert.deepEqual(await session.loginWithApiKey('sk-test-not-real'), { type: 'apiKey' })
    assert.equal((await updated).authMode, 'apikey')
    const loggedOut = session.waitForNotification('account/updated', { timeoutMs: 10_000 })
    await session.logout()
    assert.equal((await loggedOut).authMode, null)
  })
})

test('request() reaches any method; JSON-RPC errors carry rpcCode, message and data', T, async () => {
  await withSession(async (session) => {
    const list = await session.request('thread/list', { limit: 5 })
    assert.ok(Array.isArray(list.data))
    const err = await rejection(session.request('thread/read', { threadId: 'no-such-thread' }))
    assert.equal(err.code, 'RPC_ERROR')
    assert.equal(typeof err.rpcCode, 'number')
    assert.match(err.rpcMessage, /\S/)
    const unknown = await rejection(session.request('no/such/method', {}))
    assert.equal(unknown.code, 'RPC_ERROR')
    assert.equal(unknown.rpcCode, -32600)
    const controller = new AbortController()
    const aborted = session.request('thread/list', {}, { signal: controller.signal })
    controller.abort()
    assert.equal((await rejection(aborted)).code, 'ABORTED')
    assert.equal((await rejection(session.request('thread/list', { x: 1n }))).code, 'INVALID_ARGUMENT')
    session.notify('initialized')
  })
})

test('inputs: helpers, items, and a missing local image rejected before anything is sent', T, async () => {
  await withSession(async (session, model) => {
    model.respondWith(() => reply.text('seen'))
    const thread = await session.startThread()
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codex-native-img-'))
    const png = path.join(dir, 'pixel.png')
    fs.writeFileSync(png, tinyPng())
    const result = await thread.run([textInput('look at this'), localImageInput(png), imageInput(`data:image/png;base64,${fs.readFileSync(png).toString('base64')}`)])
    assert.equal(result.status, 'completed')
    const body = JSON.stringify(model.requests.at(-1).body)
    assert.ok(body.includes('look at this'))
    const images = model.requests.at(-1).body.input.at(-1).content.filter((c) => c.type === 'input_image')
    assert.equal(images.length, 2, `both images reached the model: ${body.slice(-600)}`)

    const before = model.requests.length
    const err = await rejection(thread.run([textInput('x'), localImageInput(path.join(dir, 'missing.png'))]))
    assert.equal(err.code, 'INVALID_ARGUMENT')
    assert.ok(err instanceof TypeError)
    assert.match(err.message, /input\[1\].*missing\.png/)
    assert.equal((await rejection(thread.run(42))).code, 'INVALID_ARGUMENT')
    assert.equal(model.requests.length, before, 'nothing was sent for bad input')
  })
})
