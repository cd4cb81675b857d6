// Multi-session: several app-servers at once, each running several threads concurrently.
//
// A session is one `codex app-server` process; its threads share it and run in parallel.
// Separate sessions isolate settings (cwd, env, config, approval policy) or spread load.
// Every turn's events reach only its own iterator, however many run together.
//
// Offline by default (loopback stand-in); CODEX_NATIVE_LIVE=1 uses your own Codex.

import { Session } from 'codex-native'
import { createModelStandIn, reply } from 'codex-native/testing'

const SESSIONS = 3
const THREADS_PER_SESSION = 2

async function main(): Promise<void> {
  const live = process.env.CODEX_NATIVE_LIVE === '1'
  const model = live ? null : await createModelStandIn()
  // One stand-in serves every session; it answers each prompt by echoing it, slowly enough
  // that the turns overlap.
  model?.respondWith((request) => reply.text(`answer to "${request.lastUserText}"`, { chunks: 4, delayMs: 20 }))

  const started = Date.now()
  // allSettled, so that if one session fails to start, the others are still closed.
  const created = await Promise.allSettled(
    Array.from({ length: SESSIONS }, (_, i) =>
      Session.create({ ...(model ? model.sessionOptions() : {}), clientInfo: { name: `worker-${i + 1}`, version: '1.0.0' } }),
    ),
  )
  const sessions = created.flatMap((c) => (c.status === 'fulfilled' ? [c.value] : []))
  try {
    const failed = created.find((c): c is PromiseRejectedResult => c.status === 'rejected')
    if (failed) throw failed.reason
    console.log(`${sessions.length} sessions, pids ${sessions.map((s) => s.pid).join(', ')}`)

    const runs = sessions.flatMap((session, s) =>
      Array.from({ length: THREADS_PER_SESSION }, async (_, t) => {
        const label = `session ${s + 1} / thread ${t + 1}`
        const thread = await session.startThread()
        const turn = await thread.startTurn(`Name a prime number bigger than ${10 * (s + 1) + t}.`)
        // Each turn streams independently; the text is assembled per turn.
        let text = ''
        for await (const delta of turn.textStream()) text += delta
        const result = await turn.result()
        return `${label}: ${result.status}: ${text}`
      }),
    )
    // allSettled: one failing turn should not hide how the others went.
    for (const outcome of await Promise.allSettled(runs)) {
      console.log(outcome.status === 'fulfilled' ? outcome.value : `failed: ${outcome.reason}`)
    }
    console.log(`${runs.length} turns on ${sessions.length} sessions in ${Date.now() - started} ms`)
  } finally {
    await Promise.all(sessions.map((s) => s.close()))
    await model?.close()
  }
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
