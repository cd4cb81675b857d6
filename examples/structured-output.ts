// Structured output: constrain a turn's final answer to a JSON schema.
//
// The turn option `outputSchema` is forwarded to the model as a strict JSON-schema response
// format, so the final agent message is JSON text. Parse it, and still validate it: the type
// below is a promise the schema makes, and checking it keeps a bad answer from going further.
//
// Offline by default (loopback stand-in); CODEX_NATIVE_LIVE=1 uses your own Codex.

import { Session } from 'codex-native'
import { createModelStandIn, reply } from 'codex-native/testing'

interface Release {
  name: string
  version: string
  breaking: boolean
  highlights: string[]
}

// Strict structured output wants every property required and no extra ones.
const releaseSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    version: { type: 'string' },
    breaking: { type: 'boolean' },
    highlights: { type: 'array', items: { type: 'string' } },
  },
  required: ['name', 'version', 'breaking', 'highlights'],
  additionalProperties: false,
}

/** A small hand-written check; an app would use its schema validator (ajv, zod, ...). */
function isRelease(value: unknown): value is Release {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const v = value as Record<string, unknown>
  return (
    typeof v.name === 'string' &&
    typeof v.version === 'string' &&
    typeof v.breaking === 'boolean' &&
    Array.isArray(v.highlights) &&
    v.highlights.every((h) => typeof h === 'string') &&
    Object.keys(v).every((key) => key in releaseSchema.properties)
  )
}

async function main(): Promise<void> {
  const live = process.env.CODEX_NATIVE_LIVE === '1'
  const model = live ? null : await createModelStandIn()
  const answer: Release = { name: 'codex-native', version: '0.2.0', breaking: false, highlights: ['examples', 'faster streaming'] }
  model?.enqueue(reply.text(JSON.stringify(answer), { chunks: 4 }))

  const session = await Session.create(model ? model.sessionOptions() : {})
  try {
    const thread = await session.startThread()
    const result = await thread.run('Describe a made-up release of a package called codex-native.', {
      outputSchema: releaseSchema,
    })
    // Offline, the stand-in shows what codex sent: the schema as a strict response format.
    const format = model?.requests.at(-1)?.body?.text?.format
    if (format) console.log(`sent to the model: text.format = ${format.type} (strict: ${format.strict})`)

    console.log(`raw text: ${result.text}`)
    let parsed: unknown
    try {
      parsed = JSON.parse(result.text)
    } catch {
      throw new Error(`the answer is not JSON: ${result.text}`)
    }
    if (!isRelease(parsed)) throw new Error(`the answer does not match the schema: ${result.text}`)
    // From here on the answer is typed.
    console.log(`valid: ${parsed.name} ${parsed.version}, breaking: ${parsed.breaking}, highlights: ${parsed.highlights.join('; ')}`)
  } finally {
    await session.close()
    await model?.close()
  }
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
