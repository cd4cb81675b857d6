// Goals: give a thread an objective and codex keeps working on it, turn after turn, until the
// model reports it done (or a budget runs out, or someone pauses or clears it).
//
// `thread.runGoal()` sets the goal and follows the turns the server starts by itself: one
// stream of events across all of them, and one result. Goals are experimental in the protocol:
// the session needs `experimentalApi: true`.
//
// Offline by default (loopback stand-in); CODEX_NATIVE_LIVE=1 uses your own Codex.

import { Session } from 'codex-native'
import { createModelStandIn, reply } from 'codex-native/testing'

async function main(): Promise<void> {
  const live = process.env.CODEX_NATIVE_LIVE === '1'
  const model = live ? null : await createModelStandIn()
  // Turn 1: progress, goal still active, so codex continues on its own. Turn 2: the model calls
  // its `update_goal` tool with "complete", then sums up.
  model?.enqueue(reply.text('Drafted the outline: intro, three sections, summary.'))
  model?.enqueue(reply.functionCall('update_goal', { status: 'complete' }))
  model?.enqueue(reply.text('Wrote all three sections and the summary. Done.'))

  const session = await Session.create({ ...(model ? model.sessionOptions() : {}), experimentalApi: true })
  try {
    const thread = await session.startThread()
    const run = await thread.runGoal('Write a short article about goals', { tokenBudget: 100_000 })
    for await (const event of run) {
      if (event.method === 'turn/started') console.log(`turn started: ${event.params.turn.id}`)
      if (event.method === 'thread/goal/updated') console.log(`goal: ${event.params.goal.status}, ${event.params.goal.tokensUsed} tokens used`)
    }
    const result = await run.result()
    result.turns.forEach((turn, i) => console.log(`turn ${i + 1}: ${turn.status}: ${turn.text}`))
    console.log(`goal ${result.goal?.status} after ${result.turns.length} turns, ${result.usage.totalTokens} tokens`)
    console.log(`goal() now: ${(await thread.goal())?.status}; cleared: ${await thread.clearGoal()}; goal() after: ${await thread.goal()}`)
  } finally {
    await session.close()
    await model?.close()
  }
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
