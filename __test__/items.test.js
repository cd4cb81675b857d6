'use strict'
// turn.items(): each completed item as it completes, against the real codex with the stand-in.

const test = require('node:test')
const assert = require('node:assert/strict')
const { reply, withSession } = require('./helpers.js')

const T = { timeout: 60_000 }

/** A promise and the function that resolves it. */
function gate() {
  let open
  const opened = new Promise((resolve) => (open = resolve))
  return { opened, open }
}

test('items() yields each item as it completes, in order, while the turn runs; result().items are the same', T, async () => {
  await withSession(async (session, model) => {
    // The model asks for a command (a commandExecution item), then answers only once the test
    // has seen that item: the turn cannot have ended when the item was yielded.
    const released = gate()
    model.enqueue(reply.execCommand('echo from-items'))
    model.respondWith(async () => {
      await released.opened
      return reply.text('The command ran.', { chunks: 3 })
    })
    const turn = await (await session.startThread()).startTurn('run echo')
    let settled = false
    const early = turn.result().then((r) => {
      settled = true
      return r
    })
    const items = []
    for await (const item of turn.items()) {
      items.push(item)
      if (item.type === 'commandExecution') {
        assert.equal(settled, false, 'result() settled before the command item was yielded')
        assert.equal(turn.finished, false)
        released.open()
      }
    }
    const types = items.map((i) => i.type)
    const command = types.indexOf('commandExecution')
    const message = types.indexOf('agentMessage')
    assert.ok(command >= 0 && message > command, `completion order: ${types.join(', ')}`)
    assert.match(items[command].command, /echo from-items/)
    assert.equal(items[message].text, 'The command ran.')
    assert.equal(new Set(items.map((i) => i.id)).size, items.length, 'each item once')
    // A result asked for before the loop (built by the core) and one after it (from what the
    // loop was handed: the very same objects) both equal what items() yielded.
    const before = await early
    assert.deepEqual(before.items, items)
    assert.equal(before.text, 'The command ran.')
    const after = await turn.result()
    assert.equal(after.items.length, items.length)
    after.items.forEach((item, i) => assert.equal(item, items[i], `result item ${i} is the yielded object`))
    assert.equal(after.text, 'The command ran.')
    assert.equal(after.status, 'completed')
  })
})

test('items() shares the turn\'s one consumer with the iterator and textStream()', T, async () => {
  await withSession(async (session, model) => {
    model.enqueue(reply.text('one'), reply.text('two'))
    const thread = await session.startThread()
    const a = await thread.startTurn('a')
    const items = a.items()
    assert.throws(() => a[Symbol.asyncIterator](), (err) => err.code === 'INVALID_ARGUMENT' && /items\(\)/.test(err.message))
    assert.throws(() => a.textStream(), /one consumer/)
    assert.throws(() => a.items(), /one consumer/)
    const texts = []
    for await (const item of items) if (item.type === 'agentMessage') texts.push(item.text)
    assert.deepEqual(texts, ['one'])
    const b = await thread.startTurn('b')
    for await (const e of b) if (e.method === 'turn/completed') break
    assert.throws(() => b.items(), /one consumer/)
  })
})

test('breaking out of items() early leaves the turn running; result() still has every item', T, async () => {
  await withSession(async (session, model) => {
    model.enqueue(reply.execCommand('echo first'), reply.text('after the break', { chunks: 4 }))
    const turn = await (await session.startThread()).startTurn('go')
    let first
    for await (const item of turn.items()) {
      first = item
      break
    }
    assert.ok(first, 'an item was yielded')
    const result = await turn.result()
    assert.equal(result.status, 'completed')
    assert.equal(result.text, 'after the break')
    assert.deepEqual(result.items[0], first)
    assert.ok(result.items.some((i) => i.type === 'commandExecution'))
  })
})

test('aborting the turn\'s signal during items() interrupts it: the loop ends, status interrupted', T, async () => {
  await withSession(async (session, model) => {
    model.enqueue(reply.execCommand('echo then-abort'), reply.text('never finished '.repeat(10), { chunks: 80, delayMs: 50 }))
    const controller = new AbortController()
    const turn = await (await session.startThread()).startTurn('go', { signal: controller.signal })
    const types = []
    for await (const item of turn.items()) {
      types.push(item.type)
      if (item.type === 'commandExecution') controller.abort()
    }
    assert.ok(types.includes('commandExecution'), types.join(', '))
    const result = await turn.result()
    assert.equal(result.status, 'interrupted')
    assert.equal(turn.finished, true)
  })
})
