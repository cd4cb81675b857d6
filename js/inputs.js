'use strict'
// @ts-check
// Turn inputs.

const path = require('node:path')
const { invalidArgument } = require('./errors.js')

function textInput(text) {
  if (typeof text !== 'string') throw invalidArgument('text', 'must be a string')
  return { type: 'text', text, text_elements: [] }
}

function imageInput(url) {
  if (typeof url !== 'string') throw invalidArgument('url', 'must be a string')
  return { type: 'image', url }
}

function localImageInput(filePath) {
  if (typeof filePath !== 'string') throw invalidArgument('path', 'must be a string')
  return { type: 'localImage', path: path.resolve(filePath) }
}

function nonEmpty(value, name) {
  if (typeof value !== 'string' || value === '') throw invalidArgument(name, 'must be a non-empty string')
  return value
}

/** A skill by name and the path of its SKILL.md (made absolute, as codex reads it from there). */
function skillInput(name, filePath) {
  nonEmpty(name, 'name')
  return { type: 'skill', name, path: path.resolve(nonEmpty(filePath, 'path')) }
}

/**
 * A mention (`@name`) of what `target` names: kept as given, since it need not be a file
 * (codex mentions apps and plugins by `app://...` / `plugin://...` paths).
 */
function mentionInput(name, target) {
  nonEmpty(name, 'name')
  return { type: 'mention', name, path: nonEmpty(target, 'path') }
}

module.exports = { textInput, imageInput, localImageInput, skillInput, mentionInput }
