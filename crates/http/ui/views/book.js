// One book: details, stock per location, movements and history; for admins, edit, delete and
// stock movements. Reloads when the live stream says the book changed.
import * as api from '../api.js';
import { h, replace, field, stockBadge, fmtPrice, fmtDate, toast, confirmDialog, showFieldErrors, clearFieldErrors, debounce } from '../dom.js';
import { go } from '../app.js';

const KINDS = [['sale', 'Sale'], ['receive', 'Receive'], ['return', 'Return'], ['adjustment', 'Adjustment (±, with a reason)'], ['count', 'Count (quantity on the shelf)'], ['transfer', 'Transfer between locations']];

export async function render(main, [id]) {
  let book;
  let etag;
  // Live reloads redraw the data around the movement form, never the form being filled in.
  const upper = h('div');
  const lower = h('div');
  let form = null;
  let closed = false;
  const draw = async () => {
    if (closed) return;
    const r = await api.request(`/books/${id}`);
    book = r.body;
    etag = r.etag;
    const [stock, moves, history] = await Promise.all([
      api.get(`/books/${id}/stock`),
      api.get(`/books/${id}/stock-movements?limit=20`),
      api.get(`/books/${id}/history?limit=20`),
    ]);
    if (api.isAdmin() && !form) form = movementForm((await api.get('/locations?limit=100')).items);
    replace(upper,
      h('div.toolbar',
        h('h1', book.title),
        stockBadge(book),
        api.isAdmin() ? h('div.actions',
          h('a.button', { href: `#/books/${id}/edit` }, 'Edit'),
          h('button.danger', { type: 'button', on: { click: remove } }, 'Delete')) : null),
      book.subtitle ? h('p.subtitle', book.subtitle) : null,
      details(book),
      h('section', h('h2', 'Stock on hand'),
        h('table', h('thead', h('tr', h('th', { scope: 'col' }, 'Location'), h('th', { scope: 'col' }, 'Kind'), h('th.num', { scope: 'col' }, 'Quantity'))),
          h('tbody', stock.locations.map((l) => h('tr', h('td', `${l.name} (${l.code})`), h('td', l.kind), h('td.num', l.quantity)))),
          h('tfoot', h('tr', h('th', { scope: 'row', colspan: 2 }, 'Total'), h('td.num', { dataset: { testid: 'quantity' } }, stock.quantity))))));
    replace(lower,
      h('section', h('h2', 'Stock movements'), moves.items.length ? table(
        ['When', 'Kind', 'Change', 'After', 'Where', 'Reason', 'Who'],
        moves.items.map((m) => [fmtDate(m.at), m.kind, m.delta > 0 ? `+${m.delta}` : m.delta, m.quantity_after,
          m.kind === 'transfer' ? `${m.from_location} → ${m.to_location}` : m.location, m.reason || '', m.actor])) : h('p.muted', 'None yet.')),
      h('section', h('h2', 'History'), history.items.length ? table(
        ['When', 'Version', 'Change', 'Who'],
        history.items.map((e) => [fmtDate(e.at), e.version, e.action, e.actor])) : h('p.muted', 'None yet.')));
    if (!closed && !main.contains(upper)) replace(main, upper, form, lower);
  };

  async function remove() {
    if (!await confirmDialog('Delete this book?', `“${book.title}” (${book.isbn}) will be removed from the catalogue. Its history stays readable.`, 'Delete', true)) return;
    try {
      await api.request(`/books/${id}`, { method: 'DELETE', headers: { 'If-Match': etag } });
      toast('Book deleted.');
      go('#/');
    } catch (err) {
      toast(err.status === 412 ? 'Someone changed this book meanwhile: review it and delete again.' : api.explain(err), 'error');
      if (err.status === 412) draw();
    }
  }

  function movementForm(locations) {
    const kind = h('select', { name: 'kind' }, KINDS.map(([v, t]) => h('option', { value: v }, t)));
    const quantity = h('input', { name: 'quantity', type: 'number', inputmode: 'numeric', step: 1, value: '1', required: true });
    const reason = h('input', { name: 'reason', maxlength: 500 });
    const locOpts = () => locations.map((l) => h('option', { value: l.code, selected: l.default }, `${l.name} (${l.code})`));
    const location = h('select', { name: 'location' }, locOpts());
    const from = h('select', { name: 'from_location' }, locOpts());
    const to = h('select', { name: 'to_location' }, locOpts());
    const summary = h('p.error', { role: 'alert' });
    const single = [field('Location', location)];
    const pair = [field('From', from), field('To', to)];
    const sync = () => {
      const k = kind.value;
      for (const f of single) f.hidden = k === 'transfer' || locations.length < 2;
      for (const f of pair) f.hidden = k !== 'transfer';
      reason.required = k === 'adjustment';
      quantity.min = k === 'adjustment' ? '' : k === 'count' ? '0' : '1';
    };
    kind.addEventListener('change', sync);
    const form = h('form.movement', {
      on: {
        async submit(e) {
          e.preventDefault();
          clearFieldErrors(form);
          const body = { kind: kind.value, quantity: Number(quantity.value) };
          if (reason.value.trim()) body.reason = reason.value.trim();
          if (kind.value === 'transfer') Object.assign(body, { from_location: from.value, to_location: to.value });
          else if (locations.length > 1) body.location = location.value;
          try {
            await api.request(`/books/${id}/stock-movements`, { method: 'POST', body, headers: { 'Idempotency-Key': crypto.randomUUID() } });
            toast(`${KINDS.find(([v]) => v === body.kind)[1].split(' ')[0]} recorded.`);
            await draw();
            kind.focus();
          } catch (err) {
            if (err.errors.length) showFieldErrors(form, err.errors, summary);
            else replace(summary, err.status === 409 ? `Refused: ${err.message}` : api.explain(err));
          }
        },
      },
    },
    h('h2', 'Record a stock movement'),
    h('div.row', field('Kind', kind), field('Quantity', quantity), field('Reason', reason), single, pair),
    summary, h('button.primary', { type: 'submit' }, 'Record'));
    sync();
    return h('section', form);
  }

  const reload = debounce(() => draw().catch(() => {}), 250);
  const onEvent = (e) => { if (e.detail.subject === id) reload(); };
  window.addEventListener('bookstore:event', onEvent);
  window.addEventListener('bookstore:refresh', reload);
  try {
    await draw();
  } catch (err) {
    replace(main, h('h1', err.status === 404 ? 'No such book' : 'Could not load the book'), h('p', api.explain(err)), h('p', h('a', { href: '#/' }, 'Back to search')));
  }
  return () => { closed = true; window.removeEventListener('bookstore:event', onEvent); window.removeEventListener('bookstore:refresh', reload); };
}

function details(b) {
  const rows = [
    ['ISBN', `${b.isbn}${b.isbn10 ? ` (ISBN-10 ${b.isbn10})` : ''}`],
    ['Authors', (b.authors || []).map((a) => (a.role && a.role !== 'author' ? `${a.name} (${a.role})` : a.name)).join(', ')],
    ['Genres', (b.genres || []).map((g) => g.name).join(', ')],
    ['Publisher', b.publisher], ['Year', b.published_year], ['Language', b.language], ['Format', b.format],
    ['Pages', b.page_count], ['Price', fmtPrice(b.price)],
    ['Reorder point', b.reorder_point], ['Reorder quantity', b.reorder_quantity], ['Shelf', b.location],
    ['Version', b.version], ['Updated', fmtDate(b.updated_at)],
  ].filter(([, v]) => v !== null && v !== undefined && v !== '');
  return h('section',
    h('dl.details', rows.map(([k, v]) => [h('dt', k), h('dd', String(v))])),
    b.description ? h('p.description', b.description) : null);
}

export function table(headings, rows) {
  return h('div.scroll', { tabindex: 0, role: 'region', 'aria-label': 'Table (scrolls sideways)' }, h('table',
    h('thead', h('tr', headings.map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', rows.map((r) => h('tr', r.map((c) => h('td', c ?? '')))))));
}
