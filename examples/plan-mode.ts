// Plan mode: the agent plans before it acts, and asks you when a choice is yours.
//
// `collaborationMode` on a turn switches codex into a collaboration mode; the presets come from
// `session.listCollaborationModes()`. In plan mode the model may call `request_user_input`:
// codex sends `item/tool/requestUserInput` with the questions, the policy's
// `onToolRequestUserInput` answers them (here: a stand-in for the person picks an option), and
// the answers go back to the model. Collaboration modes are part of codex's experimental API,
// so the session opts in with `experimentalApi: true`.
//
// Offline by default (loopback stand-in); CODEX_NATIVE_LIVE=1 uses your own Codex.

import { ApprovalPolicy, Session, toolAnswers, type CollaborationMode } from 'codex-native'
import { createModelStandIn, reply } from 'codex-native/testing'

async function main(): Promise<void> {
  const live = process.env.CODEX_NATIVE_LIVE === '1'
  const model = live ? null : await createModelStandIn()
  // The stand-in asks one question, then writes the plan from the answer it was sent back.
  model?.respondWith((request) => {
    const output = request.functionOutputs.at(-1)?.output
    if (output === undefined) {
      return reply.functionCall('request_user_input', {
        questions: [
          {
            id: 'storage',
            header: 'Storage',
            question: 'Where should the todos be stored?',
            options: [
              { label: 'SQLite (Recommended)', description: 'one file, no server' },
              { label: 'Postgres', description: 'a database server' },
            ],
          },
        ],
      })
    }
    const choice = JSON.parse(output).answers.storage.answers[0]
    return reply.text(`Plan: 1. a todos table in ${choice}. 2. a CLI to add, list and finish todos. 3. tests.`)
  })

  const policy = ApprovalPolicy.custom({
    onToolRequestUserInput: async ({ questions }) => {
      const answers: Record<string, string> = {}
      for (const q of questions) {
        // A UI would show these; this stand-in for the person takes the first option.
        const pick = q.options?.[0]?.label ?? 'no preference'
        console.log(`question: ${q.question} [${q.options?.map((o) => o.label).join(' | ')}] -> ${pick}`)
        answers[q.id] = pick
      }
      return toolAnswers(answers)
    },
  })

  const session = await Session.create({ ...(model ? model.sessionOptions() : {}), experimentalApi: true, approvalPolicy: policy })
  try {
    const { data: presets } = await session.listCollaborationModes()
    console.log(`modes: ${presets.map((p) => p.mode ?? p.name).join(', ')}`)
    const preset = presets.find((p) => p.mode === 'plan')
    if (!preset) throw new Error('this codex has no plan mode')
    // A mode needs a model: the preset's, else the one configured.
    const { config } = await session.readConfig()
    const planMode: CollaborationMode = {
      mode: 'plan',
      settings: { model: preset.model ?? config.model ?? 'gpt-5-codex', reasoning_effort: preset.reasoning_effort ?? null, developer_instructions: null },
    }

    const thread = await session.startThread()
    const result = await thread.run('Plan a small todo app. Ask me before choosing the storage.', { collaborationMode: planMode })
    console.log(`status: ${result.status}`)
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
