// The web UI's first load in Chromium (issue 14 §5): bytes on the wire, compressed, for the
// page and every script and style sheet of the first screen; and the browser's navigation
// timing (domInteractive, and when the sign-in form is on screen), cold (empty cache) and warm.
// Not a test: figures for bench/README.md.
//
//   bench/ui/run            (installs what it needs like scripts/ui-test, then runs this)
//
// Environment: UI_TESTS_MODULES, BOOKSTORE_BINARY, CHROMIUM, BENCH_UI_RUNS (default 15).
import { join, resolve } from 'node:path';
import { chromium, startServer } from '../../tests/ui/harness.mjs';

const root = resolve(new URL('../..', import.meta.url).pathname);
const binary = process.env.BOOKSTORE_BINARY || join(root, 'target/release/bookstore');
const runs = Number(process.env.BENCH_UI_RUNS || 15);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const p90 = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(s.length * 0.9))]; };

const server = await startServer('sqlite', binary);
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
try {
  const measure = async (page) => {
    await page.goto(`${server.base}/`);
    await page.getByLabel('Username').waitFor();
    return page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const resources = performance.getEntriesByType('resource').filter((r) => /\/ui\//.test(r.name));
      return {
        domInteractive: nav.domInteractive,
        ready: performance.getEntriesByName('bookstore:ready')[0]?.startTime ?? NaN,
        // transferSize: headers and body as received (compressed); 0-ish from the cache.
        transfer: nav.transferSize + resources.reduce((n, r) => n + r.transferSize, 0),
        body: nav.encodedBodySize + resources.reduce((n, r) => n + r.encodedBodySize, 0),
        decoded: nav.decodedBodySize + resources.reduce((n, r) => n + r.decodedBodySize, 0),
        files: 1 + resources.length,
      };
    });
  };
  const cold = [];
  for (let i = 0; i < runs; i++) {
    const ctx = await browser.newContext(); // a fresh profile: nothing cached
    cold.push(await measure(await ctx.newPage()));
    await ctx.close();
  }
  const warm = [];
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await measure(page);
  for (let i = 0; i < runs; i++) warm.push(await measure(page));
  await ctx.close();
  const all = await (async () => {
    // Every file of the UI (every screen), as the server sends it with Brotli.
    const html = await (await fetch(`${server.base}/`)).text();
    const version = html.match(/\/ui\/([0-9a-f]{16})\//)[1];
    return { version };
  })();
  const show = (name, xs) => console.log(`${name.padEnd(5)} domInteractive median ${median(xs.map((x) => x.domInteractive)).toFixed(1)} ms (p90 ${p90(xs.map((x) => x.domInteractive)).toFixed(1)}), first screen (the sign-in form) ready median ${median(xs.map((x) => x.ready)).toFixed(1)} ms, ${xs[0].files} files, ${xs[0].transfer} bytes transferred (bodies ${xs[0].body} compressed, ${xs[0].decoded} decoded)`);
  console.log(`UI version ${all.version}, ${runs} loads each, ${binary}`);
  show('cold', cold);
  show('warm', warm);
} finally {
  await browser.close();
  await server.stop();
}
