#!/usr/bin/env node
// A tiny app-server for the latency bench: the same stdio protocol as `codex app-server`
// (initialize, thread/start, turn/start), and each turn streams paced agent-message deltas that
// carry the wall-clock time of their own write.
//
//   <this file> app-server            (the client passes `app-server` first, as to codex)
//   turn input text: "rate=<events per second> count=<deltas>"
//   delta k: "<k>@<performance.timeOrigin + performance.now(), ms with µs decimals>"
//
// Delta k is due at start + k / rate; the process sleeps until then with a futex wait
// (Atomics.wait: no busy loop, so it leaves the CPU to the client), then writes one line with a
// synchronous write(2). A late wake-up sends at once (the schedule is absolute, so the mean rate
// holds); the timestamp is taken right before the write, so lateness here never shows up as
// latency there.
import fs from 'node:fs'

const sleeper = new Int32Array(new SharedArrayBuffer(4))
const now = () => performance.timeOrigin + performance.now()
const writeLine = (obj) => {
  const buf = Buffer.from(JSON.stringify(obj) + '\n')
  let off = 0
  while (off < buf.length) {
    try {
      off += fs.writeSync(1, buf, off)
    } catch (e) {
      if (e.code !== 'EAGAIN') throw e
      Atomics.wait(sleeper, 0, 0, 0.05)
    }
  }
}
const respond = (id, result) => writeLine({ id, result })
const notify = (method, params) => writeLine({ method, params })

let threads = 0
let turns = 0

function thread(id) {
  const t = Math.floor(Date.now() / 1000)
  return {
    id, sessionId: id, forkedFromId: null, parentThreadId: null, preview: '', ephemeral: false,
    modelProvider: 'latency', model: 'latency', createdAt: t, updatedAt: t, status: { type: 'idle' },
    path: null, cwd: process.cwd(), cliVersion: '0.0.0', source: 'appServer', gitInfo: null, name: null, turns: [],
  }
}
const turnObject = (id, status) => ({ id, items: [], status, error: null, startedAt: null, completedAt: null, durationMs: null })

function runTurn(req) {
  const threadId = req.params.threadId
  const text = (req.params.input || []).map((i) => i.text || '').join(' ')
  const rate = Number(/rate=(\d+)/.exec(text)?.[1] ?? 1000)
  const count = Number(/count=(\d+)/.exec(text)?.[1] ?? 1000)
  const turnId = `turn_${++turns}`
  const itemId = `msg_${turns}`
  respond(req.id, { turn: turnObject(turnId, 'inProgress') })
  notify('turn/started', { threadId, turn: turnObject(turnId, 'inProgress') })
  notify('item/started', { threadId, turnId, item: { type: 'agentMessage', id: itemId, text: '', phase: null } })
  const interval = 1000 / rate
  const start = performance.now() + 5
  let late = 0
  for (let k = 0; k < count; k++) {
    const due = start + k * interval
    const wait = due - performance.now()
    if (wait > 0) Atomics.wait(sleeper, 0, 0, wait)
    else if (wait < -interval) late++
    writeLine({ method: 'item/agentMessage/delta', params: { threadId, turnId, itemId, delta: `${k}@${now().toFixed(3)}` } })
  }
  const elapsed = performance.now() - start
  notify('item/completed', { threadId, turnId, item: { type: 'agentMessage', id: itemId, text: '', phase: null } })
  notify('turn/completed', {
    threadId,
    turn: { ...turnObject(turnId, 'completed'), durationMs: Math.round(elapsed) },
    // not part of the protocol: what the pacing achieved, for the bench
    pacing: { rate: (count / elapsed) * 1000, lateBeyondOneInterval: late },
  })
}

function handle(req) {
  switch (req.method) {
    case 'initialize':
      return respond(req.id, { userAgent: 'latency-server/0.0.0', codexHome: '/tmp', platformFamily: 'unix', platformOs: 'linux' })
    case 'thread/start': {
      const t = thread(`thr_${++threads}`)
      respond(req.id, { thread: t, model: 'latency', modelProvider: 'latency', cwd: process.cwd(), approvalPolicy: 'never', sandbox: { type: 'dangerFullAccess' }, reasoningEffort: null })
      return notify('thread/started', { thread: t })
    }
    case 'turn/start':
      return runTurn(req)
    default:
      if (req.id !== undefined) writeLine({ id: req.id, error: { code: -32601, message: `method not found: ${req.method}` } })
  }
}

let rest = ''
process.stdin.setEncoding('utf8')
process.stdin.on('data', (chunk) => {
  const lines = (rest + chunk).split('\n')
  rest = lines.pop()
  for (const line of lines) if (line.trim()) handle(JSON.parse(line))
})
process.stdin.on('end', () => process.exit(0))
process.on('SIGTERM', () => process.exit(0))
