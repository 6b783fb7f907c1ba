// End-to-end tests of the staff web UI in a real browser, on each store in turn:
//
//   node tests/ui/run.mjs [sqlite] [postgres]
//
// Environment: UI_TESTS_MODULES (the node_modules of this directory's package.json, installed
// by scripts/ui-test), BOOKSTORE_BINARY (default target/debug/bookstore), CHROMIUM (default
// /usr/bin/chromium), BOOKSTORE_TEST_DATABASE_URL (PostgreSQL), UI_SCREENSHOTS (a directory:
// the main screens are photographed there, on the first store). On a failure, a screenshot of
// every open page and a Playwright trace are kept in target/ui-tests/.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, startServer, stopAll, client, axe, assert, ADMIN_PASSWORD } from './harness.mjs';

const root = resolve(new URL('../..', import.meta.url).pathname);
const binary = process.env.BOOKSTORE_BINARY || join(root, 'target/debug/bookstore');
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const shots = process.env.UI_SCREENSHOTS || null;
const artifacts = join(root, 'target/ui-tests');
const stores = process.argv.slice(2).length ? process.argv.slice(2) : ['sqlite', 'postgres'];

const STAFF_PASSWORD = 'clerk password 2026';
const CSV = [
  'isbn,title,authors,genres,publisher,price,currency,quantity,reorder_point,reorder_quantity',
  '9780261102385,The Lord of the Rings,J. R. R. Tolkien,Fantasy,HarperCollins,25.00,EUR,4,1,3',
  '9780553293357,Foundation,Isaac Asimov,Science Fiction,Bantam,8.99,EUR,2,1,5',
  '12345,Broken Row,Nobody,Fiction,Nowhere,1.00,EUR,1,0,0',
].join('\n') + '\n';

async function until(fn, what, timeout = 10000) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    try { if (await fn()) return; } catch (err) { last = err; }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (${last.message})` : ''}`);
}
const text = (page, sel = 'main') => page.locator(sel).innerText();

async function signIn(page, base, username, password) {
  await page.goto(`${base}/`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#search-q').waitFor();
}

async function scan(page, code) {
  // A scanner is a keyboard that types a code within a few milliseconds a key, then Enter.
  await page.keyboard.type(code);
  await page.keyboard.press('Enter');
}

async function runStore(store, browser, photograph) {
  const server = await startServer(store, binary);
  const { base } = server;
  const api = client(base);
  await api.signIn('admin', ADMIN_PASSWORD);
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 }, acceptDownloads: true });
  await ctx.tracing.start({ screenshots: true, snapshots: true });
  const pages = [];
  const newPage = async (c = ctx) => {
    const p = await c.newPage();
    pages.push(p);
    p.on('pageerror', (e) => { failures.push(`page error: ${e.message}`); });
    p.on('console', (m) => {
      // Answers of 4xx are part of the tests (the browser logs each one); anything else that
      // the console calls an error (a CSP violation, a script error) fails the step.
      if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4/.test(m.text())) failures.push(`console: ${m.text()}`);
    });
    return p;
  };
  const failures = [];
  const photo = async (page, name) => { if (photograph) await page.screenshot({ path: join(shots, `${name}.png`) }); };
  const steps = [];
  const step = (name, fn) => steps.push([name, fn]);
  let page;
  const books = {};

  step('sign-in explains a wrong password, then signs in', async () => {
    page = await newPage();
    await page.goto(`${base}/`);
    await page.getByLabel('Username').waitFor();
    await axe(page, 'sign-in');
    await photo(page, 'sign-in');
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await until(async () => /Wrong username or password/.test(await text(page, '[data-testid=signin-error]')), 'the wrong-password message');
    await page.getByLabel('Password').fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#search-q').waitFor();
    const cookies = await ctx.cookies();
    const refresh = cookies.find((c) => c.name === 'bookstore_refresh');
    assert(refresh && refresh.httpOnly && refresh.secure && refresh.sameSite === 'Strict' && refresh.path === '/auth', `the refresh cookie: ${JSON.stringify(cookies)}`);
    // Nothing in the page's storage.
    const stored = await page.evaluate(() => localStorage.length + sessionStorage.length + document.cookie.length);
    assert(stored === 0, 'no token in web storage or script-readable cookies');
  });

  step('search with a facet', async () => {
    for (const [isbn, title, genre, quantity] of [
      ['9780141036144', 'Nineteen Eighty-Four', 'Dystopia', 3],
      ['9780060850524', 'Brave New World', 'Dystopia', 0],
      ['9780439023481', 'The Hunger Games', 'Young Adult', 10],
    ]) {
      const r = await api.call('POST', '/books', { isbn, title, authors: ['Test Author'], genres: [genre], language: 'en', format: 'paperback', price: { amount: '9.99', currency: 'EUR' }, quantity, reorder_point: 2, reorder_quantity: 4 });
      assert(r.status === 201, `seed ${title}: ${r.status} ${r.text}`);
      books[title] = r.body;
    }
    await page.goto(`${base}/#/`);
    await page.locator('#search-q').fill('the');
    await until(async () => (await page.locator('.result').count()) >= 1, 'results for "the"');
    await page.locator('#search-q').fill('');
    await until(async () => (await page.locator('.result').count()) === 3, 'all three books');
    await page.locator('button.chip[data-facet=genre][data-value=Dystopia]').click();
    await until(async () => (await page.locator('.result').count()) === 2, 'two dystopias');
    assert(page.url().includes('genre=Dystopia'), `the filter in the URL: ${page.url()}`);
    const titles = await page.locator('.result .title a').allInnerTexts();
    assert(titles.every((t) => t !== 'The Hunger Games'), `filtered: ${titles}`);
    const badges = await page.locator('.result .badge').allInnerTexts();
    assert(badges.includes('Out of stock') && badges.includes('In stock: 3'), `badges: ${badges}`);
    await axe(page, 'search');
    await photo(page, 'search');
    await page.locator('button.chip[data-facet=genre][aria-pressed=true]').click();
    await until(async () => (await page.locator('.result').count()) === 3, 'the filter off again');
  });

  step('create a book: a field error first, then valid', async () => {
    await page.getByRole('link', { name: 'New book' }).click();
    await page.getByLabel('ISBN', { exact: true }).fill('978-0-00-000000-1');
    await page.getByLabel('Title', { exact: true }).fill('Dune');
    await page.getByRole('button', { name: 'Create book' }).click();
    const err = page.locator('.field[data-field=isbn] .field-error');
    await until(async () => (await err.isVisible()) && (await err.innerText()).length > 0, 'the ISBN field error');
    assert(await page.getByLabel('ISBN', { exact: true }).getAttribute('aria-invalid') === 'true', 'the ISBN field marked invalid');
    await axe(page, 'book form with an error');
    await page.getByLabel('ISBN', { exact: true }).fill('978-0-441-17271-9');
    await page.getByLabel('Authors').fill('Frank Herbert');
    await page.getByLabel('Price').fill('10.50');
    await page.getByLabel('Quantity on hand').fill('5');
    await page.getByLabel('Reorder point').fill('1');
    await page.getByRole('button', { name: 'Create book' }).click();
    await until(async () => /#\/books\/[0-9a-f-]{36}$/.test(page.url()), 'the new book page');
    await page.getByRole('heading', { name: 'Dune' }).waitFor();
    const r = await api.call('GET', '/books/isbn/9780441172719');
    assert(r.status === 200 && r.body.title === 'Dune' && r.body.quantity === 5, `created: ${r.text}`);
    books.Dune = r.body;
    await axe(page, 'book page');
    await photo(page, 'book');
  });

  step('edit in two tabs: the 412 conflict shown and re-applied', async () => {
    const id = books.Dune.id;
    const other = await newPage();
    // The second tab resumes the sign-in from the cookie.
    await other.goto(`${base}/#/books/${id}/edit`);
    await other.getByLabel('Subtitle').waitFor();
    await page.goto(`${base}/#/books/${id}/edit`);
    await page.getByLabel('Title', { exact: true }).fill('Dune (50th anniversary)');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.getByRole('heading', { name: 'Dune (50th anniversary)' }).waitFor();
    await other.getByLabel('Subtitle').fill('Book one');
    await other.getByRole('button', { name: 'Save changes' }).click();
    const box = other.locator('[data-testid=conflict]');
    await box.waitFor();
    const shown = await box.innerText();
    assert(/Changed by someone else/.test(shown) && shown.includes('Dune (50th anniversary)'), `the conflict names the change: ${shown}`);
    await axe(other, 'edit conflict');
    await photo(other, 'edit-conflict');
    await other.getByRole('button', { name: 'Re-apply my changes' }).click();
    await other.getByRole('heading', { name: 'Dune (50th anniversary)' }).waitFor();
    const r = await api.call('GET', `/books/${id}`);
    assert(r.body.title === 'Dune (50th anniversary)' && r.body.subtitle === 'Book one', `both changes kept: ${r.text}`);
    await other.close();
  });

  step('record a sale: the badge changes, here and live in another tab', async () => {
    const book = books['Nineteen Eighty-Four'];
    const watcher = await newPage();
    await watcher.goto(`${base}/#/?q=Nineteen`);
    const listed = watcher.locator(`.result[data-id="${book.id}"] .badge`);
    await until(async () => (await listed.innerText()) === 'In stock: 3', 'the listed badge');
    await until(async () => (await watcher.locator('#live').innerText()) === 'Live', 'the live stream');
    await page.goto(`${base}/#/books/${book.id}`);
    const badge = page.locator('.toolbar [data-testid=stock-badge]');
    await until(async () => (await badge.innerText()) === 'In stock: 3', 'the badge before');
    await page.getByLabel('Kind').selectOption('sale');
    await page.getByLabel('Quantity', { exact: true }).fill('1');
    await page.getByRole('button', { name: 'Record' }).click();
    await until(async () => (await badge.innerText()) === 'Low: 2', 'the badge after the sale');
    await until(async () => (await listed.innerText()) === 'Low: 2', 'the other tab, without a reload');
    await watcher.close();
    const movements = await api.call('GET', `/books/${book.id}/stock-movements`);
    assert(movements.body.items[0].kind === 'sale' && movements.body.items[0].quantity === 1, `the sale: ${movements.text}`);
    // A stock movement with a reason: an adjustment without one is refused on its field.
    await page.getByLabel('Kind').selectOption('adjustment');
    await page.getByLabel('Quantity', { exact: true }).fill('-1');
    await page.getByLabel('Reason').fill('damaged');
    await page.getByRole('button', { name: 'Record' }).click();
    await until(async () => (await badge.innerText()) === 'Low: 1', 'the adjustment');
  });

  step('a scanner-typed ISBN opens the book; an unknown one offers to create it', async () => {
    await page.goto(`${base}/#/reorder`);
    await page.getByRole('heading', { name: 'Reorder' }).waitFor();
    await page.locator('main').focus();
    await scan(page, '9780439023481');
    await page.getByRole('heading', { name: 'The Hunger Games' }).waitFor();
    assert(page.url().endsWith(`#/books/${books['The Hunger Games'].id}`), `opened: ${page.url()}`);
    await scan(page, '9780306406157');
    await page.getByRole('dialog').waitFor();
    await page.getByRole('button', { name: 'Create book' }).click();
    await until(async () => (await page.getByLabel('ISBN', { exact: true }).inputValue()) === '9780306406157', 'the form with the scanned ISBN');
    // "/" focuses the search box from anywhere.
    await page.locator('main').focus();
    await page.keyboard.press('/');
    await until(async () => page.evaluate(() => document.activeElement?.id === 'search-q'), 'search focused by "/"');
  });

  step('a stocktake of three scans, committed', async () => {
    await page.goto(`${base}/#/stocktakes`);
    await page.getByRole('button', { name: 'Open stocktake' }).click();
    const box = page.locator('#scan');
    await box.waitFor();
    await until(async () => page.evaluate(() => document.activeElement?.id === 'scan'), 'the scan field focused');
    for (const code of ['9780439023481', '9780439023481', '9780060850524']) await scan(page, code);
    const total = page.locator('[data-testid=scan-total]');
    await until(async () => (await total.innerText()) === '3', 'three items counted');
    const table = await text(page, 'main table');
    assert(table.includes('The Hunger Games') && table.includes('Brave New World'), `the counts: ${table}`);
    await axe(page, 'stocktake');
    await photo(page, 'stocktake');
    await page.getByRole('button', { name: 'Commit counts' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Commit' }).click();
    await until(async () => (await text(page, '[data-testid=stocktake-state]')) === 'committed', 'committed');
    const hunger = await api.call('GET', `/books/${books['The Hunger Games'].id}`);
    const brave = await api.call('GET', `/books/${books['Brave New World'].id}`);
    assert(hunger.body.quantity === 2 && brave.body.quantity === 1, `stock after the count: ${hunger.body.quantity}, ${brave.body.quantity}`);
  });

  step('import a small CSV and watch it finish, with the rejected row', async () => {
    await page.goto(`${base}/#/imports`);
    await page.getByLabel('File').setInputFiles({ name: 'books.csv', mimeType: 'text/csv', buffer: Buffer.from(CSV) });
    await page.getByRole('button', { name: 'Upload and import' }).click();
    const state = page.locator('[data-testid=import-state]');
    await until(async () => /^Done/.test(await state.innerText()), 'the import done', 30000);
    assert(/2 created/.test(await state.innerText()) && /1 rejected/.test(await state.innerText()), `counts: ${await state.innerText()}`);
    await page.getByRole('heading', { name: 'Rejected rows' }).waitFor();
    assert((await text(page, 'main table')).includes('isbn'), 'the rejected row names its field');
    assert(await page.locator('progress').evaluate((p) => p.value) === 100, 'the progress bar full');
    const r = await api.call('GET', '/books/isbn/9780553293357');
    assert(r.status === 200 && r.body.title === 'Foundation', 'the imported book');
    await axe(page, 'import');
    await photo(page, 'import');
    const download = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Download' }).click();
    const file = await download;
    assert(file.suggestedFilename().endsWith('.csv'), `export file: ${file.suggestedFilename()}`);
  });

  step('reorder suggestions with CSV download', async () => {
    await page.goto(`${base}/#/reorder`);
    await until(async () => (await text(page)).includes('Nineteen Eighty-Four'), 'a suggestion');
    await axe(page, 'reorder');
    await photo(page, 'reorder');
    const download = page.waitForEvent('download');
    await page.getByRole('button', { name: 'Download CSV' }).click();
    const file = await download;
    assert(file.suggestedFilename() === 'reorder.csv', 'the CSV');
  });

  step('users: create a staff user; webhooks and audit screens', async () => {
    await page.goto(`${base}/#/users`);
    await page.getByRole('heading', { name: 'New user' }).waitFor();
    await page.getByLabel('Username').fill('clerk');
    await page.getByLabel('Password', { exact: true }).fill('short');
    await page.getByRole('button', { name: 'Create user' }).click();
    await until(async () => (await page.locator('.field[data-field=password] .field-error').innerText()).length > 0, 'the password field error');
    await page.getByLabel('Password', { exact: true }).fill(STAFF_PASSWORD);
    await page.getByRole('button', { name: 'Create user' }).click();
    await page.locator('tr[data-user=clerk]').waitFor();
    await axe(page, 'users');
    await photo(page, 'users');
    await page.goto(`${base}/#/webhooks`);
    await page.getByRole('heading', { name: 'Subscribe a URL' }).waitFor();
    await axe(page, 'webhooks');
    await page.goto(`${base}/#/audit`);
    await until(async () => (await text(page)).includes('user_created'), 'the audit entry');
    await axe(page, 'audit');
    await photo(page, 'audit');
  });

  step('users: change a role, disable and enable, reset a password, unlock', async () => {
    const created = await api.call('POST', '/users', { username: 'temp', password: 'temp password 2026', role: 'staff' }, { 'Idempotency-Key': crypto.randomUUID() });
    assert(created.status === 201, `create temp: ${created.status} ${created.text}`);
    const temp = async () => (await api.call('GET', `/users/${created.body.id}`)).body;
    const row = page.locator('tr[data-user=temp]');
    const toastSays = (what) => until(async () => (await text(page, '#toasts')).includes(what), `the toast "${what}"`);
    await page.goto(`${base}/#/`);
    await page.goto(`${base}/#/users`);
    await row.waitFor();
    await page.getByLabel('Role of temp').selectOption('admin');
    await toastSays('temp is now admin.');
    assert((await temp()).role === 'admin', 'temp is an admin in the store');
    await row.getByRole('button', { name: 'Disable' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Disable' }).click();
    await until(async () => (await row.innerText()).includes('Disabled'), 'the row says Disabled');
    assert((await temp()).disabled === true, 'temp is disabled in the store');
    await row.getByRole('button', { name: 'Enable' }).click();
    await until(async () => (await row.innerText()).includes('Active'), 'the row says Active');
    assert((await temp()).disabled === false, 'temp is enabled again');
    await row.getByRole('button', { name: 'Reset password' }).click();
    const dialog = page.getByRole('dialog', { name: 'New password for temp' });
    await dialog.getByLabel('New password').fill('short');
    await dialog.getByRole('button', { name: 'Set password' }).click();
    await until(async () => (await dialog.locator('.error').innerText()).length > 0, 'the password policy explained');
    await dialog.getByLabel('New password').fill('a brand new password 2026');
    await dialog.getByRole('button', { name: 'Set password' }).click();
    await toastSays('Password of temp reset');
    const fresh = client(base);
    await fresh.signIn('temp', 'a brand new password 2026');
    await row.getByRole('button', { name: 'Unlock' }).click();
    await toastSays('temp unlocked.');
    await axe(page, 'users after the actions');
  });

  step('webhooks: subscribe, ping, pause and resume, remove', async () => {
    await page.goto(`${base}/#/webhooks`);
    await page.getByRole('heading', { name: 'Subscribe a URL' }).waitFor();
    await page.getByLabel('URL').fill('https://hooks.example.com/bookstore');
    await page.getByRole('button', { name: 'Subscribe' }).click();
    await until(async () => (await page.locator('.secret').innerText()).startsWith('whsec_'), 'the secret, shown once');
    const listed = await api.call('GET', '/webhooks?limit=10');
    assert(listed.status === 200 && listed.body.items.length === 1, `one webhook: ${listed.text}`);
    const hook = listed.body.items[0];
    const hookRow = page.locator('tr', { hasText: 'https://hooks.example.com/bookstore' });
    await hookRow.getByRole('button', { name: 'Ping' }).click();
    await until(async () => (await api.call('GET', `/webhooks/${hook.id}/deliveries?limit=10`)).body.items.length === 1, 'the ping in the delivery log', 30000);
    await hookRow.getByRole('button', { name: 'Deliveries' }).click();
    await page.getByRole('heading', { name: 'Deliveries to https://hooks.example.com/bookstore' }).waitFor();
    await hookRow.getByRole('button', { name: 'Pause' }).click();
    await until(async () => (await api.call('GET', `/webhooks/${hook.id}`)).body.active === false, 'paused in the store');
    await hookRow.getByRole('button', { name: 'Resume' }).click();
    await until(async () => (await api.call('GET', `/webhooks/${hook.id}`)).body.active === true, 'active again');
    await axe(page, 'webhooks with one');
    await hookRow.getByRole('button', { name: 'Remove' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Remove' }).click();
    await until(async () => (await api.call('GET', `/webhooks/${hook.id}`)).status === 404, 'removed from the store');
    await until(async () => (await text(page)).includes('No webhooks.'), 'the empty list');
  });

  step('staff see no write controls, and a crafted write is refused', async () => {
    const staffCtx = await browser.newContext({ viewport: { width: 768, height: 1000 } });
    const staff = await newPage(staffCtx);
    try {
      await signIn(staff, base, 'clerk', STAFF_PASSWORD);
      await until(async () => (await staff.locator('.result').count()) >= 3, 'results for staff');
      assert(await staff.getByRole('link', { name: 'New book' }).count() === 0, 'no New book');
      for (const name of ['Users', 'Webhooks', 'Audit', 'Stocktake']) {
        assert(!(await staff.getByRole('link', { name, exact: true }).isVisible()), `no ${name} link`);
      }
      await axe(staff, 'search (staff, tablet width)');
      await photo(staff, 'search-staff-tablet');
      const id = books['Nineteen Eighty-Four'].id;
      await staff.goto(`${base}/#/books/${id}`);
      await staff.getByRole('heading', { name: 'Stock on hand' }).waitFor();
      for (const name of ['Edit', 'Delete', 'Record']) {
        assert(await staff.getByRole('button', { name, exact: true }).count() === 0 && await staff.getByRole('link', { name, exact: true }).count() === 0, `no ${name}`);
      }
      assert(await staff.locator('form').count() === 0, 'no form at all on the book page');
      await staff.goto(`${base}/#/imports`);
      await staff.getByRole('heading', { name: 'Export the catalogue' }).waitFor();
      assert(await staff.getByRole('button', { name: 'Upload and import' }).count() === 0, 'no import');
      // A write crafted with the staff session's own token: the server refuses it.
      const status = await staff.evaluate(async (bookId) => {
        const src = document.querySelector('script[type=module]').src.replace(/app\.js$/, 'api.js');
        const api = await import(src);
        const r = await fetch(`/books/${bookId}/stock-movements`, { method: 'POST', headers: { Authorization: `Bearer ${api.token()}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ kind: 'sale', quantity: 1 }) });
        return r.status;
      }, id);
      assert(status === 403, `the crafted write: ${status}`);
      const after = await api.call('GET', `/books/${id}`);
      assert(after.body.quantity === 1, `stock unchanged: ${after.body.quantity}`);
    } finally {
      await staffCtx.close();
    }
  });

  step('sign-out, then the back button shows nothing private', async () => {
    const id = books['Nineteen Eighty-Four'].id;
    await page.goto(`${base}/#/books/${id}`);
    await page.getByRole('heading', { name: 'Nineteen Eighty-Four' }).waitFor();
    await page.goto(`${base}/#/reorder`);
    await page.getByRole('heading', { name: 'Reorder' }).waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await until(async () => !(await ctx.cookies()).some((c) => c.name === 'bookstore_refresh'), 'the cookie gone');
    await page.goBack();
    await page.waitForTimeout(300);
    await page.goBack();
    await page.waitForTimeout(500);
    const body = await page.locator('body').innerText();
    assert(!body.includes('Nineteen Eighty-Four') && !body.includes('Stock on hand'), `nothing private after back: ${body.slice(0, 200)}`);
    assert(await page.getByRole('button', { name: 'Sign in' }).isVisible(), 'the sign-in form');
    await page.reload();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    assert(!(await page.locator('body').innerText()).includes('Nineteen Eighty-Four'), 'nothing after a reload either');
  });

  step('a locked-out account is explained in words', async () => {
    await page.getByLabel('Username').fill('clerk');
    let shown = '';
    for (let i = 0; i < 12 && !/Too many failed sign-ins/.test(shown); i++) {
      await page.getByLabel('Password').fill(`wrong ${i}`);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await until(async () => (await page.getByRole('button', { name: 'Sign in' }).isEnabled()), 'the answer');
      shown = await text(page, '[data-testid=signin-error]');
    }
    assert(/Too many failed sign-ins.*Try again in \d+ second/.test(shown), `the lock-out explained: ${shown}`);
    await axe(page, 'sign-in lock-out');
  });

  let failed = 0;
  for (const [name, fn] of steps) {
    const started = Date.now();
    try {
      await fn();
      if (failures.length) throw new Error(failures.splice(0).join('\n'));
      console.log(`ok   ${store}: ${name} (${Date.now() - started} ms)`);
    } catch (err) {
      failed++;
      console.log(`FAIL ${store}: ${name}\n  ${String(err.stack || err).split('\n').slice(0, 6).join('\n  ')}`);
      mkdirSync(artifacts, { recursive: true });
      let i = 0;
      for (const p of pages) if (!p.isClosed()) await p.screenshot({ path: join(artifacts, `${store}-failure-${++i}.png`), fullPage: true }).catch(() => {});
      break;
    }
  }
  if (failed) {
    await ctx.tracing.stop({ path: join(artifacts, `${store}-trace.zip`) });
    console.log(`  screenshots and trace in ${artifacts}; server log (warnings and errors):\n${server.log().split('\n').filter((l) => /"level":"(WARN|ERROR)"/.test(l)).slice(-10).join('\n')}`);
  } else {
    await ctx.tracing.stop();
  }
  await ctx.close();
  await server.stop();
  return failed === 0;
}

const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
let ok = true;
try {
  if (shots) mkdirSync(shots, { recursive: true });
  for (const [i, store] of stores.entries()) {
    const started = Date.now();
    let passed = false;
    try {
      passed = await runStore(store, browser, shots && i === 0);
    } catch (err) {
      console.log(`FAIL ${store}: ${err.stack || err}`);
    }
    console.log(`${passed ? 'passed' : 'FAILED'}: ${store} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    ok &&= passed;
  }
} finally {
  await stopAll();
  await browser.close();
}
process.exit(ok ? 0 : 1);
