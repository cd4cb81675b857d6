// Which payload form should carry a batch of events into JavaScript?
//   json:    one string per batch (the server's frames joined), parsed by V8's JSON.parse
//   objects: one array of objects per batch, built field by field through napi
// Prints events/s and JS-thread time per event for each, medians of 7 runs.
import { createRequire } from 'node:module'
const require = createRequire(import.meta.url)
const native = require('../index.js')

const frames = {
  delta16: JSON.stringify({ method: 'item/agentMessage/delta', params: { threadId: 't'.repeat(36), turnId: 'u'.repeat(36), itemId: 'msg_1', delta: 'x'.repeat(16) } }),
  delta1k: JSON.stringify({ method: 'item/agentMessage/delta', params: { threadId: 't'.repeat(36), turnId: 'u'.repeat(36), itemId: 'msg_1', delta: 'x'.repeat(1024) } }),
}
const BATCH = 256
const BATCHES = 400

function run(form, frame) {
  let sink = 0
  const start = process.cpuUsage()
  const t0 = process.hrtime.bigint()
  for (let b = 0; b < BATCHES; b++) {
    const events = form === 'json' ? JSON.parse(native._benchBatchJson(frame, BATCH)) : native._benchBatchObjects(frame, BATCH)
    for (const e of events) sink += e.params.delta.length
  }
  const ns = Number(process.hrtime.bigint() - t0)
  const cpu = process.cpuUsage(start)
  if (sink === 0) throw new Error('nothing delivered')
  const events = BATCH * BATCHES
  return { eventsPerSec: events / (ns / 1e9), cpuNsPerEvent: ((cpu.user + cpu.system) * 1000) / events }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
const rows = []
for (const [name, frame] of Object.entries(frames)) {
  for (const form of ['json', 'objects']) {
    run(form, frame) // warm-up
    const runs = Array.from({ length: 7 }, () => run(form, frame))
    rows.push({ frame: name, form, 'events/s': Math.round(median(runs.map((r) => r.eventsPerSec))), 'JS ns/event': Math.round(median(runs.map((r) => r.cpuNsPerEvent))) })
  }
}
console.table(rows)
