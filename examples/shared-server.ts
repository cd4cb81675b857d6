// Sharing a server between clients: two sessions on one `codex app-server --listen ws://`.
//
// Client A starts a slow turn. Client B (another process in a real app: a second window, a
// dashboard, this app after a reconnect) resumes the thread, follows everything that happens
// on it with `thread.events()`, and joins the turn in progress with `thread.currentTurn()`:
// its stream starts at the join, its result is the whole answer all the same.
//
// Offline by default (loopback stand-in); CODEX_NATIVE_LIVE=1 uses your own Codex.

import { spawn } from 'node:child_process'
import { Session, findCodex } from 'codex-native'
import { createModelStandIn, reply } from 'codex-native/testing'

async function main(): Promise<void> {
  const live = process.env.CODEX_NATIVE_LIVE === '1'
  const model = live ? null : await createModelStandIn()
  model?.enqueue(reply.text('Shared servers let many clients watch one conversation as it happens.', { chunks: 10, delayMs: 300 }))

  // One listening server; port 0 lets it choose, and its banner says which.
  const server = spawn(findCodex(), ['app-server', '--listen', 'ws://127.0.0.1:0', ...(model?.codexArgs() ?? [])], {
    env: { ...process.env, ...model?.sessionOptions().env },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let banner = ''
      server.stderr.on('data', (chunk) => {
        banner += chunk
        const found = /listening on: (ws:\/\/\S+)/.exec(banner)
        if (found) resolve(found[1])
      })
      server.on('exit', (code) => reject(new Error(`codex app-server exited (${code}): ${banner}`)))
    })
    const a = await Session.create({ transport: { type: 'websocket', url } })
    const b = await Session.create({ transport: { type: 'websocket', url } })

    const threadA = await a.startThread()
    const turnA = await threadA.startTurn('Why share a server between clients?')
    // Wait until A's answer is streaming, so that B arrives in the middle of it.
    for await (const event of turnA) if (event.method === 'item/agentMessage/delta') break
    console.log('A: turn started, answer streaming')

    const threadB = await b.resumeThread(threadA.id)
    const counts = new Map<string, number>()
    const stop = threadB.onEvent((event) => counts.set(event.method, (counts.get(event.method) ?? 0) + 1))
    const joined = await threadB.currentTurn()
    if (!joined) throw new Error('expected a turn in progress')
    console.log(`B: joined turn ${joined.id === turnA.id ? 'of A' : joined.id}`)
    let fromJoin = ''
    for await (const delta of joined.textStream()) fromJoin += delta
    const result = await joined.result()
    console.log(`B: streamed from the join: "${fromJoin}"`)
    console.log(`B: result: ${result.status}: ${result.text}`)
    console.log(`B: thread events seen: ${[...counts].map(([m, n]) => `${m} x${n}`).join(', ')}`)
    stop()
    console.log(`B: turn in progress now: ${await threadB.currentTurn()}`)
    await a.close()
    await b.close()
  } finally {
    server.kill()
    await model?.close()
  }
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
