// Low level: the raw protocol under Session/Thread/Turn, for methods and events the typed
// wrappers do not cover (yet).
//
//   session.request(method, params)        any client request, typed by the method name
//   session.onNotification('*', fn)        every notification, unknown ones included
//   session.waitForNotification(m, {...})  the next notification matching a predicate
//   session.onServerRequest(m, handler)    answer a server request yourself, ahead of any policy
//   session.notify(method, params)         a client notification
//
// Offline by default (loopback stand-in); CODEX_NATIVE_LIVE=1 uses your own Codex.

import { Session } from 'codex-native'
import { createModelStandIn, reply } from 'codex-native/testing'

async function main(): Promise<void> {
  const live = process.env.CODEX_NATIVE_LIVE === '1'
  const model = live ? null : await createModelStandIn()
  model?.enqueue(reply.execCommand('echo hello'), reply.text('I was not allowed to run it.'))

  const session = await Session.create(model ? model.sessionOptions() : {})
  try {
    // Count every notification by method: a cheap protocol trace.
    const counts = new Map<string, number>()
    const stopCounting = session.onNotification('*', (n) => counts.set(n.method, (counts.get(n.method) ?? 0) + 1))

    // Answer command approvals here instead of through an ApprovalPolicy.
    const stopAnswering = session.onServerRequest('item/commandExecution/requestApproval', async (params, context) => {
      console.log(`server request ${context.requestId} (${context.method}): ${params.command} -> decline`)
      return { decision: 'decline' }
    })

    // request() is typed by method: params and result are the protocol's own types.
    const { thread } = await session.request('thread/start', { approvalPolicy: 'untrusted', sandbox: 'read-only' })
    console.log(`thread/start -> thread ${thread.id}`)

    // Subscribe before starting the turn, so its completion cannot slip past.
    const completed = session.waitForNotification('turn/completed', {
      predicate: (params) => params.threadId === thread.id,
      timeoutMs: 60_000,
    })
    const { turn } = await session.request('turn/start', {
      threadId: thread.id,
      input: [{ type: 'text', text: 'Run `echo hello`.', text_elements: [] }],
    })
    console.log(`turn/start -> turn ${turn.id} (${turn.status})`)
    const done = await completed
    console.log(`turn/completed -> ${done.turn.status}`)

    // A method with no typed wrapper: the turn's stored items, one page.
    const page = await session.request('thread/items/list', { threadId: thread.id, turnId: turn.id, limit: 20 })
    console.log(`thread/items/list -> ${page.data.map((entry) => entry.item.type).join(', ')}`)
    const message = page.data.map((entry) => entry.item).filter((item) => item.type === 'agentMessage').at(-1)
    if (message?.type === 'agentMessage') console.log(`agent: ${message.text}`)

    // The protocol has one client notification, `initialized`, which Session.create already
    // sent; notify() is there for newer ones. The server ignores a repeat.
    session.notify('initialized')

    stopCounting()
    stopAnswering()
    const top = [...counts].sort((a, b) => b[1] - a[1]).map(([m, n]) => `${m} x${n}`)
    console.log(`notifications seen: ${top.join(', ')}`)
  } finally {
    await session.close()
    await model?.close()
  }
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
