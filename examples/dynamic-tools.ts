// Dynamic tools: give the model functions that run in your app.
//
// A thread started with `dynamicTools` offers them to the model; when it calls one, codex
// sends `item/tool/call` to this client, the `onDynamicToolCall` handler runs the function, and
// its output goes back to the model. Dynamic tools are part of codex's experimental API, so
// the session opts in with `experimentalApi: true`.
//
// Offline by default (loopback stand-in); CODEX_NATIVE_LIVE=1 uses your own Codex.

import { ApprovalPolicy, Session, toolCallFailure, toolCallSuccess, type Experimental } from 'codex-native'
import { createModelStandIn, reply } from 'codex-native/testing'

/** The app's own data, which the model can only reach through the tool. */
const ORDERS: Record<string, { status: string; eta: string }> = {
  'A-1001': { status: 'shipped', eta: 'Thursday' },
  'A-1002': { status: 'packing', eta: 'next week' },
}

async function main(): Promise<void> {
  const live = process.env.CODEX_NATIVE_LIVE === '1'
  const model = live ? null : await createModelStandIn()
  // The stand-in calls the tool first, then answers from the tool's output it was sent back.
  model?.respondWith((request) => {
    const output = request.functionOutputs.at(-1)?.output
    return output === undefined
      ? reply.functionCall('lookup_order', { orderId: 'A-1001' })
      : reply.text(`Your order is on its way: ${output}`)
  })

  // The tools live in the app, so they are answered per thread, by the policy of the thread
  // that offers them. Anything else that thread asks for is declined (the policy fails closed).
  const tools = ApprovalPolicy.custom({
    onDynamicToolCall: async ({ tool, arguments: args }) => {
      console.log(`tool call: ${tool} ${JSON.stringify(args)}`)
      const orderId = typeof args === 'object' && args !== null && 'orderId' in args ? String(args.orderId) : ''
      const order = ORDERS[orderId]
      // A failure is an answer too: the model reads the message and can try again.
      if (tool !== 'lookup_order' || !order) return toolCallFailure(`no order ${orderId}`)
      const text = `order ${orderId} is ${order.status}, arriving ${order.eta}`
      console.log(`tool result: ${text}`)
      return toolCallSuccess(text)
    },
  })

  const session = await Session.create({ ...(model ? model.sessionOptions() : {}), experimentalApi: true })
  try {
    // `dynamicTools` is an experimental field: the stable ThreadStartParams type does not list
    // it, the experimental one does.
    const params: Experimental.ThreadStartParams = {
      dynamicTools: [
        {
          type: 'function',
          name: 'lookup_order',
          description: 'Looks up the status and delivery estimate of a customer order by its id.',
          inputSchema: {
            type: 'object',
            properties: { orderId: { type: 'string', description: 'e.g. A-1001' } },
            required: ['orderId'],
          },
        },
      ],
    }
    const thread = await session.startThread(params, { approvalPolicy: tools })
    const result = await thread.run('Where is my order A-1001? Use the lookup_order tool.')
    const call = result.items.find((item) => item.type === 'dynamicToolCall')
    if (call?.type === 'dynamicToolCall') console.log(`item: dynamicToolCall ${call.tool} -> ${call.status}`)
    console.log(`agent: ${result.text}`)
  } finally {
    await session.close()
    await model?.close()
  }
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
