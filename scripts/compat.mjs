#!/usr/bin/env node
// The codex compatibility matrix.
//
//   pnpm test:compat <codex-version>          run the real-codex tests against that codex
//   node scripts/compat.mjs --table           rewrite README.md's compatibility table
//   node scripts/compat.mjs --table --check   exit 1 when that table is not up to date
//
// A run installs @openai/codex@<version> into $CODEX_NATIVE_CACHE/codex/<version> (the
// pinned version uses node_modules), checks its binary reports that version, runs the test
// files that start the real codex with CODEX_PATH set to it, and writes
// compat/results/<version>.json (committed: the README table is generated from those files).
// A guard preloaded into every test process (scripts/compat/guard.cjs) fails any session
// whose server is not that version.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  checkBinaryVersion,
  checkVersionArgument,
  compareVersions,
  installCodex,
  locateCodexBinary,
} from './codex-versions.mjs';
import { diffAgainstPinned, diffMarkdown, diffSummary } from './generate.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS_DIR = path.join(ROOT, 'compat', 'results');
const README = path.join(ROOT, 'README.md');
const START = '<!-- compat-table:start -->';
const END = '<!-- compat-table:end -->';

// Every __test__/*.test.js is in exactly one list, checked on each run, so a new test file
// cannot be left out of the matrix unnoticed. "Real codex" = it starts `codex app-server`
// (through testing/index.js's sessionOptions, the examples, or a spawned listener).
const REAL_CODEX_TESTS = ['approvals', 'collaboration', 'command-transport', 'containment', 'examples', 'inputs', 'interceptors', 'items', 'lifecycle', 'login', 'process', 'protocol', 'repl', 'restart', 'selfcheck', 'session', 'threads', 'transports', 'turns'];
const OTHER_TESTS = {
  'fake-server': 'the scripted fake server only',
  faults: 'the fault matrix, on the scripted fake server (its one real-codex case is about CODEX_HOME, not the protocol)',
  reliability: 'the scripted fake server only',
  'generate-diff': 'pure functions on hand-made schemas',
  install: 'loading the addon on other platforms; no session',
  workflows: 'workflow lint; the Electron smoke uses the fake server',
  boundary: 'error shapes, argument checks and ordering, on the scripted fake server',
  'generate-methods': 'the generated pass-through methods against the pinned schema and the fake server',
  'module-cycles': 'the crates\' module graphs; no session',
  'stream-transport': 'the stream transport over sockets and pipes to the scripted fake server',
};

const USAGE = `usage: pnpm test:compat <codex-version>       (e.g. 0.171.0)
       node scripts/compat.mjs --table [--check]`;

class UsageError extends Error {}

function pinnedVersion() {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const v = pkg.devDependencies?.['@openai/codex'];
  if (!v) throw new Error('package.json has no @openai/codex devDependency');
  return v;
}

function realCodexTestFiles() {
  const dir = path.join(ROOT, '__test__');
  const present = fs.readdirSync(dir).filter((f) => f.endsWith('.test.js')).map((f) => f.slice(0, -'.test.js'.length));
  const listed = [...REAL_CODEX_TESTS, ...Object.keys(OTHER_TESTS)];
  const unlisted = present.filter((n) => !listed.includes(n));
  const missing = listed.filter((n) => !present.includes(n));
  if (unlisted.length || missing.length) {
    throw new Error(
      [
        unlisted.length && `test files not classified in scripts/compat.mjs (REAL_CODEX_TESTS or OTHER_TESTS): ${unlisted.join(', ')}`,
        missing.length && `listed in scripts/compat.mjs but missing from __test__/: ${missing.join(', ')}`,
      ]
        .filter(Boolean)
        .join('; '),
    );
  }
  return REAL_CODEX_TESTS.map((n) => path.join('__test__', `${n}.test.js`));
}

/** The codex binary for `version`: the pinned one from node_modules, else a cached install. */
function codexFor(version) {
  if (version === pinnedVersion()) {
    const pinned = locateCodexBinary(ROOT);
    if (pinned.version !== version) throw new Error(`node_modules has @openai/codex ${pinned.version}, package.json pins ${version}: run pnpm install`);
    return { bin: pinned.bin, source: 'node_modules (pinned)' };
  }
  const t0 = Date.now();
  const installed = installCodex(version);
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  return { bin: installed.bin, source: installed.installed ? `installed in ${secs} s` : `cached (${secs} s)` };
}

function runTests(version, bin, files) {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'codex-native-compat-'));
  try {
    const events = path.join(work, 'events.jsonl');
    const guardLog = path.join(work, 'guard.jsonl');
    fs.writeFileSync(guardLog, '');
    const guard = path.join(ROOT, 'scripts', 'compat', 'guard.cjs');
    const env = {
      ...process.env,
      CODEX_PATH: bin,
      CODEX_NATIVE_COMPAT_VERSION: version,
      CODEX_NATIVE_COMPAT_BIN: bin,
      CODEX_NATIVE_COMPAT_LOG: guardLog,
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${JSON.stringify(guard)}`.trim(),
    };
    const args = [
      '--test',
      '--test-concurrency=2',
      '--test-timeout=120000',
      '--test-reporter=spec',
      '--test-reporter-destination=stdout',
      `--test-reporter=${pathToFileURL(path.join(ROOT, 'scripts', 'compat', 'reporter.mjs')).href}`,
      `--test-reporter-destination=${events}`,
      ...files,
    ];
    const t0 = Date.now();
    const run = spawnSync(process.execPath, args, { cwd: ROOT, env, stdio: 'inherit' });
    const durationSeconds = Math.round((Date.now() - t0) / 1000);
    if (run.error) throw run.error;

    const tests = fs.existsSync(events) ? readJsonLines(events) : [];
    const failures = tests
      .filter((t) => !t.passed && !t.todo)
      .map((t) => (t.file ? `${path.relative(ROOT, t.file)}: ${t.name}` : t.name));
    const skipped = tests.filter((t) => t.skip || t.todo).length;
    const passed = tests.filter((t) => t.passed && !t.skip && !t.todo).length;

    const checks = readJsonLines(guardLog);
    const sessionsChecked = checks.filter((c) => c.ok === true).length;
    const wrong = checks.filter((c) => c.ok === false);
    if (wrong.length) failures.push(`compat guard: ${wrong.length} session(s) ran codex ${[...new Set(wrong.map((c) => c.version))].join(', ')}`);
    if (sessionsChecked === 0) failures.push('compat guard: no real-codex session was checked (was scripts/compat/guard.cjs loaded?)');
    // The runner's exit code is the last word: a failure the reporter did not see still fails.
    if (run.status !== 0 && failures.length === 0) failures.push(`node --test exited with ${run.status ?? run.signal} but reported no failing test`);
    return { passed, failed: failures.length, skipped, failures, sessionsChecked, durationSeconds };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function readJsonLines(file) {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
}

function runCompat(version) {
  const files = realCodexTestFiles();
  const t0 = Date.now();
  const { bin, source } = codexFor(version);
  checkBinaryVersion(bin, version);
  console.log(`test:compat: codex ${version} at ${bin} (${source}); ${files.length} test files`);

  const tests = runTests(version, bin, files);
  // The pinned version is the reference the others are diffed against.
  const protocol = version === pinnedVersion() ? null : diffSummary(diffAgainstPinned(version));

  const result = {
    version,
    date: new Date().toISOString().slice(0, 10),
    node: process.version,
    passed: tests.passed,
    failed: tests.failed,
    skipped: tests.skipped,
    failures: tests.failures,
    sessionsChecked: tests.sessionsChecked,
    durationSeconds: tests.durationSeconds,
    protocol,
  };
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const out = path.join(RESULTS_DIR, `${version}.json`);
  fs.writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);

  const total = Math.round((Date.now() - t0) / 1000);
  console.log(
    `test:compat ${version}: ${result.passed} passed, ${result.failed} failed, ${result.skipped} skipped; ` +
      `${result.sessionsChecked} real-codex sessions checked to be ${version}; tests ${result.durationSeconds} s, total ${total} s; ` +
      `wrote ${path.relative(ROOT, out)}`,
  );
  for (const f of result.failures) console.log(`  failed: ${f}`);
  return result.failed === 0 ? 0 : 1;
}

// ---------------------------------------------------------------------------------------
// The README table
// ---------------------------------------------------------------------------------------

function readResults() {
  if (!fs.existsSync(RESULTS_DIR)) return [];
  return fs
    .readdirSync(RESULTS_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => {
      const r = JSON.parse(fs.readFileSync(path.join(RESULTS_DIR, f), 'utf8'));
      if (`${r.version}.json` !== f) throw new Error(`compat/results/${f} is for version ${r.version}`);
      return r;
    })
    .sort((a, b) => compareVersions(b.version, a.version));
}

function protocolCell(r, pinned) {
  if (r.version === pinned) return 'reference';
  if (!r.protocol) return '(not diffed)';
  if (r.protocol.vs !== pinned) return `(diffed against ${r.protocol.vs}: re-run)`;
  const c = r.protocol.counts;
  if (!c.methodsAdded && !c.methodsRemoved && !c.fieldsAdded && !c.fieldsRemoved && !c.fieldsChanged) return 'none';
  return `methods +${c.methodsAdded} / -${c.methodsRemoved}; fields +${c.fieldsAdded} / -${c.fieldsRemoved} / changed ${c.fieldsChanged}`;
}

function tableSection() {
  const pinned = pinnedVersion();
  const results = readResults();
  const lines = [
    START,
    '<!-- Generated by `node scripts/compat.mjs --table` from compat/results/*.json. Do not edit. -->',
    '',
    '| codex | status | tests passed / failed | protocol changes vs pinned (stable API) | date |',
    '| --- | --- | --- | --- | --- |',
  ];
  if (!results.some((r) => r.version === pinned)) {
    lines.push(`| **${pinned}** | pinned | not run: \`pnpm test:compat ${pinned}\` | reference | |`);
  }
  for (const r of results) {
    const tests = `${r.passed} / ${r.failed}${r.skipped ? ` (${r.skipped} skipped)` : ''}`;
    const name = r.version === pinned ? `**${r.version}**` : r.version;
    lines.push(`| ${name} | ${r.version === pinned ? 'pinned' : 'tested'} | ${tests} | ${protocolCell(r, pinned)} | ${r.date} |`);
  }
  const notes = [];
  for (const r of results) {
    if (r.failures.length) notes.push(`- **${r.version}** failing: ${r.failures.map((f) => `\`${f}\``).join(', ')}.`);
    if (r.version !== pinned && r.protocol && r.protocol.vs === pinned) notes.push(diffMarkdown(r.version, r.protocol));
  }
  if (notes.length) lines.push('', ...notes);
  lines.push(END);
  return lines.join('\n');
}

function table(check) {
  const text = fs.readFileSync(README, 'utf8');
  const start = text.indexOf(START);
  const end = text.indexOf(END);
  if (start < 0 || end < start) throw new Error(`README.md has no ${START} ... ${END} markers (in "## Compatibility")`);
  const updated = text.slice(0, start) + tableSection() + text.slice(end + END.length);
  if (check) {
    if (updated === text) {
      console.log('README.md compatibility table is up to date with compat/results');
      return 0;
    }
    console.error('README.md compatibility table differs from compat/results: run `node scripts/compat.mjs --table`');
    return 1;
  }
  if (updated !== text) fs.writeFileSync(README, updated);
  console.log(`README.md compatibility table ${updated === text ? 'already up to date' : 'rewritten'} (${readResults().length} versions)`);
  return 0;
}

function main(argv) {
  const { values, positionals } = (() => {
    try {
      return parseArgs({ args: argv, allowPositionals: true, options: { table: { type: 'boolean' }, check: { type: 'boolean' } } });
    } catch (err) {
      throw new UsageError(err.message);
    }
  })();
  if (values.table) {
    if (positionals.length) throw new UsageError('--table takes no version');
    return table(values.check === true);
  }
  if (values.check) throw new UsageError('--check goes with --table');
  if (positionals.length !== 1) throw new UsageError(positionals.length ? 'one version at a time' : 'missing the codex version');
  try {
    checkVersionArgument(positionals[0]);
  } catch (err) {
    throw new UsageError(err.message);
  }
  return runCompat(positionals[0]);
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (err) {
  if (err instanceof UsageError) {
    console.error(`${USAGE}\n${err.message}`);
    process.exitCode = 2;
  } else {
    console.error(`scripts/compat.mjs: ${err instanceof Error ? err.message : err}`);
    process.exitCode = 1;
  }
}
