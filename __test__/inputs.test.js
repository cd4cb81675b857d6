'use strict'
// The input builders for every kind of `UserInput`: text, image, localImage (see protocol.test.js
// for those), skill and mention. Checked before anything is sent; what they build reaches codex.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { Session, skillInput, mentionInput, textInput } = require('../main.js')
const { withStandIn, reply } = require('./helpers.js')

test('skillInput / mentionInput build the protocol items; bad arguments are INVALID_ARGUMENT naming them', () => {
  assert.deepEqual(skillInput('notes', '/abs/skills/notes/SKILL.md'), { type: 'skill', name: 'notes', path: '/abs/skills/notes/SKILL.md' })
  // A relative skill path is made absolute (codex reads the file), like localImageInput's.
  assert.equal(skillInput('notes', 'skills/notes/SKILL.md').path, path.resolve('skills/notes/SKILL.md'))
  // A mention's path need not be a file (`app://...`): kept as given.
  assert.deepEqual(mentionInput('calendar', 'app://calendar'), { type: 'mention', name: 'calendar', path: 'app://calendar' })
  for (const [call, name] of [
    [() => skillInput(undefined, '/p'), 'name'],
    [() => skillInput('', '/p'), 'name'],
    [() => skillInput('n', 42), 'path'],
    [() => skillInput('n', ''), 'path'],
    [() => mentionInput(null, 'app://x'), 'name'],
    [() => mentionInput('n', undefined), 'path'],
  ]) {
    assert.throws(call, (err) => err instanceof TypeError && err.code === 'INVALID_ARGUMENT' && err.message.includes(`\`${name}\``))
  }
})

test('a skill item makes codex give the model that skill; a mention item is kept in the thread', { timeout: 60_000 }, async () => {
  await withStandIn(async (model) => {
    const options = model.sessionOptions()
    // A skill codex discovers under $CODEX_HOME/skills (a temp dir of the stand-in's).
    const dir = path.join(options.env.CODEX_HOME, 'skills', 'release-notes')
    fs.mkdirSync(dir, { recursive: true })
    const file = path.join(dir, 'SKILL.md')
    fs.writeFileSync(file, '---\nname: release-notes\ndescription: Writes release notes.\n---\nStart every release note with SKILL-MARKER-7.\n')
    const session = await Session.create(options)
    try {
      model.respondWith(() => reply.text('ok'))
      const thread = await session.startThread()
      await thread.run([textInput('Write the notes.'), skillInput('release-notes', file)])
      const sent = JSON.stringify(model.requests[0].body.input)
      assert.match(sent, /<skill>\\n<name>release-notes<\/name>.*SKILL-MARKER-7/)

      await thread.run([textInput('Ask the calendar.'), mentionInput('calendar', 'app://calendar')])
      const { thread: read } = await thread.read({ includeTurns: true })
      const content = read.turns.map((t) => t.items.find((i) => i.type === 'userMessage')?.content)
      assert.deepEqual(content[0][1], { type: 'skill', name: 'release-notes', path: file })
      assert.deepEqual(content[1][1], { type: 'mention', name: 'calendar', path: 'app://calendar' })
    } finally {
      await session.close()
    }
  })
})
