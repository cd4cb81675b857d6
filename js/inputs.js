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

module.exports = { textInput, imageInput, localImageInput }
