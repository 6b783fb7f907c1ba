// Search as you type: debounced, each new query cancels the one in flight; facets as filters,
// sort, keyset paging ("More"), stock badges kept current by the live stream.
import * as api from '../api.js';
import { h, replace, debounce, stockBadge, fmtPrice, uid } from '../dom.js';

const FACETS = [['genre', 'Genre'], ['language', 'Language'], ['format', 'Format']];
const SORTS = [['', 'Best match / latest'], ['title', 'Title'], ['-updated_at', 'Recently changed'], ['price', 'Price, low first'], ['-price', 'Price, high first'], ['published_year', 'Year']];

export async function render(main, _params, query) {
  const state = Object.fromEntries(['q', 'genre', 'language', 'format', 'sort', 'in_stock'].map((k) => [k, query.get(k) || '']));
  let inflight = null;
  let cursor = null;
  const rows = new Map(); // book id -> row element

  const q = h('input#search-q', { type: 'search', name: 'q', value: state.q, placeholder: 'Title, author, ISBN…  (press / )', autocomplete: 'off', 'aria-controls': 'results' });
  const sort = h('select', { name: 'sort', id: uid() }, SORTS.map(([v, t]) => h('option', { value: v, selected: v === state.sort }, t)));
  const inStock = h('input', { type: 'checkbox', name: 'in_stock', id: uid(), checked: state.in_stock === 'true' });
  const facetBox = h('div.facets', { 'aria-label': 'Filters', role: 'group' });
  const list = h('ol#results.results', { 'aria-live': 'polite', 'aria-busy': 'false' });
  const count = h('p.muted');
  const more = h('button', { type: 'button', hidden: true, on: { click: () => load(true) } }, 'More results');

  const sync = () => {
    const p = new URLSearchParams(Object.entries(state).filter(([, v]) => v));
    history.replaceState(null, '', `#/${p.toString() ? `?${p}` : ''}`);
  };

  async function load(append = false) {
    inflight?.abort();
    const ctl = (inflight = new AbortController());
    list.setAttribute('aria-busy', 'true');
    try {
      const page = await api.get(`/books${api.qs({ ...state, in_stock: state.in_stock || undefined, limit: 25, facets: append ? undefined : 'genre,language,format', cursor: append ? cursor : undefined })}`, { signal: ctl.signal });
      if (ctl.signal.aborted) return;
      if (!append) { list.replaceChildren(); rows.clear(); renderFacets(page.facets || {}); }
      for (const b of page.items) list.append(row(b));
      cursor = page.next_cursor;
      more.hidden = !cursor;
      replace(count, rows.size ? `${rows.size}${cursor ? '+' : ''} book${rows.size === 1 ? '' : 's'}` : 'No books match.');
    } catch (err) {
      if (err.name === 'AbortError') return;
      replace(count, h('span.error', api.explain(err)));
    } finally {
      if (inflight === ctl) list.setAttribute('aria-busy', 'false');
    }
  }

  function row(b) {
    const li = h('li.result', { dataset: { id: b.id } },
      h('div.title', h('a', { href: `#/books/${b.id}` }, b.title), b.subtitle ? h('span.muted', ` — ${b.subtitle}`) : null),
      h('div.meta', (b.authors || []).map((a) => a.name).join(', ') || '—', ' · ', b.isbn, b.published_year ? ` · ${b.published_year}` : '', ` · ${fmtPrice(b.price)}`),
      stockBadge(b));
    rows.set(b.id, li);
    return li;
  }

  function renderFacets(facets) {
    facetBox.replaceChildren();
    for (const [key, label] of FACETS) {
      const values = facets[key] || [];
      if (!values.length && !state[key]) continue;
      const group = h('fieldset.facet', h('legend', label));
      for (const { value, count: n } of values.slice(0, 12)) {
        const on = state[key] === value;
        group.append(h('button.chip', {
          type: 'button', 'aria-pressed': String(on), dataset: { facet: key, value },
          on: { click() { state[key] = on ? '' : value; sync(); load(); } },
        }, `${value} (${n})`));
      }
      if (state[key] && !values.some((v) => v.value === state[key])) {
        group.append(h('button.chip', { type: 'button', 'aria-pressed': 'true', on: { click() { state[key] = ''; sync(); load(); } } }, `${state[key]} ✕`));
      }
      facetBox.append(group);
    }
  }

  const typed = debounce(() => { state.q = q.value.trim(); sync(); load(); }, 200);
  q.addEventListener('input', typed);
  q.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); state.q = q.value.trim(); sync(); load(); } });
  sort.addEventListener('change', () => { state.sort = sort.value; sync(); load(); });
  inStock.addEventListener('change', () => { state.in_stock = inStock.checked ? 'true' : ''; sync(); load(); });

  const onEvent = (e) => {
    const ev = e.detail;
    const li = rows.get(ev.subject);
    if (ev.type?.endsWith('.deleted') || ev.type?.endsWith('.created')) { reload(); return; }
    if (li && ev.data) li.querySelector('.badge').replaceWith(stockBadge(ev.data));
  };
  const reload = debounce(() => load(), 300);
  window.addEventListener('bookstore:event', onEvent);
  window.addEventListener('bookstore:refresh', reload);

  replace(main,
    h('div.toolbar',
      h('h1', 'Books'),
      api.isAdmin() ? h('a.button.primary', { href: '#/books/new' }, 'New book') : null),
    h('div.searchbar', h('label.visually-hidden', { for: 'search-q' }, 'Search books'), q,
      h('label', { for: sort.id }, 'Sort'), sort,
      h('label.check', inStock, ' In stock only')),
    h('div.search-layout', facetBox, h('section', { 'aria-label': 'Results' }, count, list, more)));
  if (sessionStorage.getItem('focus-search')) { sessionStorage.removeItem('focus-search'); q.focus(); }
  await load();
  return () => {
    inflight?.abort();
    window.removeEventListener('bookstore:event', onEvent);
    window.removeEventListener('bookstore:refresh', reload);
  };
}
