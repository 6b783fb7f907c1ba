// Stocktakes (admins): open a count of a location, scan books in (each scan adds one and shows
// the running count), review the differences, commit. Staff can look at them.
import * as api from '../api.js';
import { h, replace, field, toast, fmtDate, confirmDialog } from '../dom.js';
import { go } from '../app.js';
import { table } from './book.js';
import { isbnOf } from '../isbn.js';

export async function render(main, [id]) {
  if (id) return one(main, id);
  const [list, locations] = await Promise.all([api.get('/stocktakes?limit=50'), api.get('/locations?limit=100')]);
  const location = h('select', { name: 'location' }, locations.items.map((l) => h('option', { value: l.code, selected: l.default }, `${l.name} (${l.code})`)));
  const note = h('input', { name: 'note', maxlength: 500 });
  const msg = h('p.error', { role: 'alert' });
  const open = api.isAdmin() ? h('form', {
    on: {
      async submit(e) {
        e.preventDefault();
        try {
          const r = await api.request('/stocktakes', { method: 'POST', body: { location: location.value, note: note.value.trim() || undefined }, headers: { 'Idempotency-Key': crypto.randomUUID() } });
          go(`#/stocktakes/${r.body.id}`);
        } catch (err) { replace(msg, api.explain(err)); }
      },
    },
  }, h('h2', 'Open a stocktake'), h('div.row', field('Location', location), field('Note', note)), msg, h('button.primary', { type: 'submit' }, 'Open stocktake')) : null;
  replace(main, h('h1', 'Stocktakes'), open,
    h('h2', 'Recent'),
    list.items.length ? table(['Opened', 'Location', 'State', 'Lines', 'By', ''], list.items.map((s) => [fmtDate(s.created_at), s.location, s.state, s.line_count, s.created_by, h('a', { href: `#/stocktakes/${s.id}` }, 'Open')])) : h('p.muted', 'None yet.'));
}

async function one(main, id) {
  let take;
  let etag;
  const counts = h('div');
  const scanMsg = h('p', { role: 'status', 'aria-live': 'polite', dataset: { testid: 'scan-status' } });
  const scanBox = h('input#scan', { name: 'isbn', autocomplete: 'off', inputmode: 'numeric', dataset: { scan: '' }, placeholder: 'Scan or type an ISBN, then Enter' });
  const total = h('span.scan-count', { dataset: { testid: 'scan-total' } }, '0');

  const draw = () => {
    replace(counts, take.lines.length ? table(['Title', 'ISBN', 'Counted', 'On hand', 'Expected', 'Difference'],
      take.lines.map((l) => [l.title || '', l.isbn || '', l.counted, l.on_hand, l.expected, l.difference > 0 ? `+${l.difference}` : l.difference])) : h('p.muted', 'Nothing counted yet.'));
    total.textContent = String(take.lines.reduce((n, l) => n + l.counted, 0));
  };
  const load = async () => {
    const r = await api.request(`/stocktakes/${id}`);
    take = r.body;
    etag = r.etag;
    draw();
  };

  // Scans are queued: a scanner can send the next code before the last answer is back.
  let queue = Promise.resolve();
  scanBox.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter') return;
    e.preventDefault();
    const raw = scanBox.value.trim();
    scanBox.value = '';
    if (!raw) return;
    const isbn = isbnOf(raw);
    if (!isbn) { replace(scanMsg, h('span.error', `“${raw}” is not an ISBN.`)); return; }
    queue = queue.then(async () => {
      try {
        const line = (await api.request(`/stocktakes/${id}/counts`, { method: 'POST', body: { isbn, add: 1 } })).body;
        const i = take.lines.findIndex((l) => l.book_id === line.book_id && l.location_id === line.location_id);
        if (i >= 0) take.lines[i] = line; else take.lines.push(line);
        draw();
        replace(scanMsg, `${line.title || isbn}: ${line.counted} counted`);
      } catch (err) {
        replace(scanMsg, h('span.error', err.status === 404 ? `No book has ISBN ${isbn}.` : api.explain(err)));
      }
    });
  });

  await load();
  const open = take.state === 'open';
  const admin = api.isAdmin() && open;
  replace(main,
    h('div.toolbar', h('h1', `Stocktake of ${take.location}`), h('span.badge', { dataset: { testid: 'stocktake-state' } }, take.state),
      admin ? h('div.actions',
        h('button.primary', { type: 'button', on: { click: commit } }, 'Commit counts'),
        h('button.danger', { type: 'button', on: { click: cancel } }, 'Cancel stocktake')) : null),
    h('p.muted', `Opened ${fmtDate(take.created_at)} by ${take.created_by}${take.note ? ` — ${take.note}` : ''}`),
    admin ? h('div.scan', h('label', { for: 'scan' }, 'Scan'), ' ', scanBox, ' ', h('span', 'Items counted: '), total, scanMsg) : null,
    counts);
  if (admin) scanBox.focus();

  async function commit() {
    await queue;
    // Each count gives the stocktake a new version: commit the one now shown.
    await load();
    if (!await confirmDialog('Commit this stocktake?', 'Every difference becomes a count movement, setting the stock to what was counted.', 'Commit')) return;
    try {
      await api.request(`/stocktakes/${id}/commit`, { method: 'POST', headers: { 'If-Match': etag } });
      toast('Stocktake committed.');
      await one(main, id);
    } catch (err) {
      toast(err.status === 412 ? 'The stocktake changed meanwhile: review it and commit again.' : api.explain(err), 'error');
      await load();
    }
  }
  async function cancel() {
    if (!await confirmDialog('Cancel this stocktake?', 'Its counts are dropped; no stock changes.', 'Cancel stocktake', true)) return;
    try {
      await api.request(`/stocktakes/${id}`, { method: 'DELETE' });
      go('#/stocktakes');
    } catch (err) { toast(api.explain(err), 'error'); }
  }
}
