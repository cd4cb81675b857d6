// node:test reporter for scripts/compat.mjs: one JSON line per finished test (suites left
// out, as in node's own "tests" count), so the result file is read from events, not from
// scraping the human-readable output.
export default async function* compatReporter(source) {
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const d = event.data;
    if (d.details?.type === 'suite') continue;
    yield `${JSON.stringify({
      passed: event.type === 'test:pass',
      name: d.name,
      nesting: d.nesting,
      file: d.file ?? null,
      skip: d.skip !== undefined && d.skip !== false,
      todo: d.todo !== undefined && d.todo !== false,
    })}\n`;
  }
}
