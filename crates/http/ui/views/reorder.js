// Low stock and reorder suggestions (grouped by publisher), with CSV download.
import * as api from '../api.js';
import { h, replace, field, download, stockBadge, toast } from '../dom.js';
import { table } from './book.js';

export async function render(main) {
  const locations = (await api.get('/locations?limit=100')).items;
  const location = h('select', { name: 'location' }, h('option', { value: '' }, 'All locations'), locations.map((l) => h('option', { value: l.code }, `${l.name} (${l.code})`)));
  const report = h('div');
  const low = h('div');

  const load = async () => {
    const [r, lows] = await Promise.all([
      api.get(`/reorder-suggestions${api.qs({ location: location.value })}`),
      api.get('/books/low-stock?limit=100'),
    ]);
    replace(report, r.groups.length ? r.groups.map((g) => h('section',
      h('h3', `${g.publisher || 'No publisher'} — ${g.suggested_total} to order`),
      table(['Title', 'ISBN', 'On hand', r.stock_location ? `At ${r.stock_location.code}` : null, 'Reorder point', 'Order'].filter(Boolean),
        g.items.map((i) => [h('a', { href: `#/books/${i.book_id}` }, i.title), i.isbn, i.quantity, r.stock_location ? i.location_quantity : null, i.reorder_point, i.suggested_quantity].filter((c) => c !== null)))))
      : h('p.muted', 'Nothing to reorder.'));
    replace(low, lows.items.length ? table(['Title', 'ISBN', 'Stock', 'Reorder point'],
      lows.items.map((b) => [h('a', { href: `#/books/${b.id}` }, b.title), b.isbn, stockBadge(b), b.reorder_point])) : h('p.muted', 'No book is at or below its reorder point.'));
  };
  location.addEventListener('change', load);

  const csv = h('button', {
    type: 'button',
    on: {
      async click() {
        try {
          const r = await api.request(`/reorder-suggestions${api.qs({ location: location.value })}`, { accept: 'text/csv', as: 'blob' });
          download(r.body, `reorder${location.value ? `-${location.value}` : ''}.csv`);
        } catch (err) { toast(api.explain(err), 'error'); }
      },
    },
  }, 'Download CSV');

  replace(main, h('h1', 'Reorder'),
    h('div.row', field('Stock at', location), h('div.field', h('span', ' '), csv)),
    h('h2', 'Suggestions by publisher'), report,
    h('h2', 'Low stock'), low);
  await load();
  const refresh = () => load().catch(() => {});
  window.addEventListener('bookstore:refresh', refresh);
  return () => window.removeEventListener('bookstore:refresh', refresh);
}
