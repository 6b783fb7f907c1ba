// What the UI tests share: the server (the real binary on a free port, on a fresh SQLite store
// or a fresh PostgreSQL database), the browser (Debian's Chromium through playwright-core; no
// browser is ever downloaded), API calls from the test itself, and axe-core.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

const modules = process.env.UI_TESTS_MODULES;
if (!modules) throw new Error('UI_TESTS_MODULES must name the node_modules of tests/ui (scripts/ui-test sets it)');
const require = createRequire(join(modules, 'noop.js'));
export const { chromium } = require('playwright-core');
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export const ADMIN_PASSWORD = `ui admin ${randomBytes(6).toString('hex')}`;

const running = new Set();

/** Stops every server still running (a run that ended early). */
export async function stopAll() {
  for (const stop of [...running]) await stop();
}

/** Starts the binary on a fresh store; resolves { base, stop }. */
export async function startServer(store, binary) {
  const dir = mkdtempSync(join(tmpdir(), `bookstore-ui-${store}-`));
  const env = {
    ...process.env,
    BOOKSTORE_DATA_DIR: join(dir, 'data'),
    BOOKSTORE_ADMIN_PASSWORD: ADMIN_PASSWORD,
    BOOKSTORE_LISTEN: '127.0.0.1:0',
    BOOKSTORE_LOG: 'info',
    // Every page load resumes its sign-in through /auth/refresh, which shares the per-address
    // sign-in budget; the tests load many pages. The per-account throttle stays as it is.
    BOOKSTORE_RATE_LIMIT_SIGN_IN: '1000/s',
    BOOKSTORE_RATE_LIMIT_SIGN_IN_BURST: '1000',
  };
  delete env.DATABASE_URL;
  let database = null;
  if (store === 'postgres') {
    const admin = process.env.BOOKSTORE_TEST_DATABASE_URL;
    if (!admin) throw new Error('BOOKSTORE_TEST_DATABASE_URL is needed for the PostgreSQL run');
    database = `bookstore_test_ui_${randomBytes(6).toString('hex')}`;
    execFileSync('psql', [admin, '-qc', `CREATE DATABASE "${database}"`]);
    env.DATABASE_URL = `${admin.replace(/\/[^/]*$/, '')}/${database}`;
  }
  mkdirSync(env.BOOKSTORE_DATA_DIR, { recursive: true, mode: 0o700 });
  // Kept after the start too: the tail is printed when a test fails.
  const child = spawn(binary, ['serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const started = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start:\n${log}`)), 60000);
    const onData = (chunk) => {
      log = (log + chunk).slice(-50000);
      const m = log.match(/serving on (http:\/\/[0-9.:]+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the server exited (${code}):\n${log}`)); });
  });
  const stop = async () => {
    running.delete(stop);
    if (child.exitCode !== null) return cleanup();
    child.removeAllListeners('exit');
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
    return cleanup();
  };
  const cleanup = () => {
    if (database) {
      try { execFileSync('psql', [process.env.BOOKSTORE_TEST_DATABASE_URL, '-qc', `DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`]); } catch { /* reported by the next run's cleanup */ }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  running.add(stop);
  let base;
  try {
    base = await started;
  } catch (err) {
    await stop();
    throw err;
  }
  return { base, stop, log: () => log };
}

/** Calls the API from the test (setting up data, checking what the UI did). */
export function client(base) {
  let token = null;
  const call = async (method, path, body, headers = {}) => {
    const h = { Accept: 'application/vnd.bookstore.v2+json', ...headers };
    if (token) h.Authorization = `Bearer ${token}`;
    if (body !== undefined) h['Content-Type'] ||= 'application/json';
    const res = await fetch(base + path, { method, headers: h, body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body)) });
    const text = await res.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: res.status, body: json, text, headers: res.headers };
  };
  return {
    call,
    async signIn(username, password) {
      const r = await call('POST', '/auth/login', { username, password }, { Accept: 'application/json' });
      if (r.status !== 200) throw new Error(`sign-in of ${username}: ${r.status} ${r.text}`);
      token = r.body.access_token;
    },
  };
}

/** Runs axe-core on the page: fails on any serious or critical violation. */
export async function axe(page, screen) {
  // evaluate runs through the DevTools protocol, so the page's CSP (no inline script) holds
  // for the page while axe is injected.
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  if (bad.length) {
    const lines = bad.map((v) => `${v.impact} ${v.id}: ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
    throw new Error(`axe on ${screen}:\n  ${lines.join('\n  ')}`);
  }
}

export function assert(cond, message) {
  if (!cond) throw new Error(`assertion failed: ${message}`);
}
