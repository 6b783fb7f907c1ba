// Create and edit a book (admins). The API's field errors go next to their fields; a 412 (the
// book changed since it was opened) shows what changed, and offers to reload or re-apply.
import * as api from '../api.js';
import { h, replace, field, toast, showFieldErrors, clearFieldErrors } from '../dom.js';
import { go } from '../app.js';

const FORMATS = ['', 'hardcover', 'paperback', 'ebook', 'audiobook', 'other'];
const LABELS = {
  isbn: 'ISBN', title: 'Title', subtitle: 'Subtitle', authors: 'Authors', genres: 'Genres', publisher: 'Publisher',
  published_year: 'Year', language: 'Language', format: 'Format', page_count: 'Pages', price: 'Price',
  quantity: 'Quantity on hand', reorder_point: 'Reorder point', reorder_quantity: 'Reorder quantity',
  location: 'Shelf', description: 'Description',
};
const NUMBERS = ['published_year', 'page_count', 'quantity', 'reorder_point', 'reorder_quantity'];

/** The form's view of a book: strings, as the inputs hold them. */
function toForm(b = {}) {
  return {
    isbn: b.isbn || '', title: b.title || '', subtitle: b.subtitle || '', description: b.description || '',
    authors: (b.authors || []).map((a) => a.name).join('; '), genres: (b.genres || []).map((g) => g.name).join('; '),
    publisher: b.publisher || '', published_year: b.published_year ?? '', language: b.language || '', format: b.format || '',
    page_count: b.page_count ?? '', price: b.price?.amount || '', currency: b.price?.currency || 'EUR',
    quantity: b.quantity ?? '', reorder_point: b.reorder_point ?? '', reorder_quantity: b.reorder_quantity ?? '', location: b.location || '',
  };
}

/** Form strings to API fields (null for a cleared optional field). */
function toApi(f, keys) {
  const out = {};
  for (const k of keys) {
    const v = String(f[k] ?? '').trim();
    if (k === 'currency') continue;
    if (k === 'authors' || k === 'genres') out[k] = v ? v.split(/[;\n]/).map((s) => s.trim()).filter(Boolean) : [];
    else if (k === 'price') out.price = v ? { amount: v, currency: String(f.currency).trim().toUpperCase() } : null;
    else if (NUMBERS.includes(k)) out[k] = v === '' ? null : Number(v);
    else out[k] = v === '' ? null : v;
  }
  return out;
}

export async function render(main, [id], query) {
  const creating = !id;
  let base = {};
  let etag = null;
  if (!creating) {
    const r = await api.request(`/books/${id}`);
    base = r.body;
    etag = r.etag;
  }
  const initial = toForm(base);
  if (creating && query.get('isbn')) initial.isbn = query.get('isbn');

  const inputs = {};
  const input = (name, attrs = {}) => (inputs[name] = h(attrs.tag || 'input', { name, value: String(initial[name] ?? ''), ...attrs, tag: undefined }));
  const fmt = h('select', { name: 'format' }, FORMATS.map((v) => h('option', { value: v, selected: v === initial.format }, v || '—')));
  inputs.format = fmt;
  const desc = h('textarea', { name: 'description', rows: 4 });
  desc.value = initial.description;
  inputs.description = desc;
  const summary = h('div.error', { role: 'alert' });
  const conflict = h('div');

  const form = h('form.book-form', { novalidate: true, on: { submit: save } },
    h('div.grid',
      field('ISBN', input('isbn', { required: true, autocomplete: 'off', inputmode: 'numeric' }), 'ISBN-10 or ISBN-13, any hyphenation'),
      field('Title', input('title', { required: true })),
      field('Subtitle', input('subtitle')),
      field('Authors', input('authors'), 'Names separated by ;'),
      field('Genres', input('genres'), 'Names separated by ;'),
      field('Publisher', input('publisher')),
      field('Year', input('published_year', { type: 'number', inputmode: 'numeric' })),
      field('Language', input('language', { maxlength: 3 }), 'ISO 639-1, e.g. en'),
      field('Format', fmt),
      field('Pages', input('page_count', { type: 'number', min: 0 })),
      field('Price', input('price', { inputmode: 'decimal' }), 'e.g. 12.99'),
      field('Currency', input('currency', { maxlength: 3 })),
      creating ? field('Quantity on hand', input('quantity', { type: 'number', min: 0 })) : null,
      field('Reorder point', input('reorder_point', { type: 'number', min: 0 })),
      field('Reorder quantity', input('reorder_quantity', { type: 'number', min: 0 })),
      field('Shelf', input('location'))),
    field('Description', desc),
    summary, conflict,
    h('div.actions',
      h('button.primary', { type: 'submit' }, creating ? 'Create book' : 'Save changes'),
      h('a.button', { href: creating ? '#/' : `#/books/${id}` }, 'Cancel')));

  const current = () => Object.fromEntries(Object.entries(inputs).map(([k, el]) => [k, el.value]));
  const changedKeys = () => {
    const now = current();
    const keys = Object.keys(now).filter((k) => String(now[k]) !== String(initial[k] ?? ''));
    if (keys.includes('currency') && !keys.includes('price')) keys.push('price');
    return keys.filter((k) => k !== 'currency');
  };

  async function save(e) {
    e?.preventDefault();
    clearFieldErrors(form);
    replace(summary);
    replace(conflict);
    try {
      if (creating) {
        const body = toApi(current(), Object.keys(inputs));
        for (const k of Object.keys(body)) if (body[k] === null || (Array.isArray(body[k]) && !body[k].length)) delete body[k];
        const r = await api.request('/books', { method: 'POST', body, headers: { 'Idempotency-Key': crypto.randomUUID() } });
        toast('Book created.');
        go(`#/books/${r.body.id}`);
      } else {
        const keys = changedKeys();
        if (!keys.length) { go(`#/books/${id}`); return; }
        await api.request(`/books/${id}`, {
          method: 'PATCH', body: JSON.stringify(toApi(current(), keys)),
          headers: { 'If-Match': etag, 'Content-Type': 'application/merge-patch+json' },
        });
        toast('Changes saved.');
        go(`#/books/${id}`);
      }
    } catch (err) {
      if (err.status === 412) return showConflict();
      if (err.errors.length) showFieldErrors(form, err.errors, summary);
      else replace(summary, err.status === 409 ? `Refused: ${err.message}` : api.explain(err));
    }
  }

  // Someone saved this book after it was opened here: show their changes next to ours.
  async function showConflict() {
    const r = await api.request(`/books/${id}`);
    const theirs = toForm(r.body);
    const mine = current();
    const ours = changedKeys();
    const keys = Object.keys(LABELS).filter((k) => ours.includes(k) || String(theirs[k] ?? '') !== String(initial[k] ?? ''));
    const box = h('section.conflict', { role: 'alert', 'aria-labelledby': 'conflict-title', dataset: { testid: 'conflict' } },
      h('h2#conflict-title', `Changed by someone else meanwhile (now version ${r.body.version})`),
      keys.length ? h('table',
        h('thead', h('tr', h('th', { scope: 'col' }, 'Field'), h('th', { scope: 'col' }, 'When you opened it'), h('th', { scope: 'col' }, 'Now saved'), h('th', { scope: 'col' }, 'Yours'))),
        h('tbody', keys.map((k) => h('tr', h('th', { scope: 'row' }, LABELS[k]), h('td', String(initial[k] ?? '')), h('td', String(theirs[k] ?? '')), h('td', String(mine[k] ?? '')))))) : h('p', 'Only the stock or version changed.'),
      h('div.actions',
        h('button', { type: 'button', on: { click: () => render(main, [id], query) } }, 'Reload (drop my changes)'),
        h('button.primary', {
          type: 'button',
          on: {
            click() {
              // Re-apply: my changed fields on top of the version now saved.
              const changed = changedKeys();
              Object.assign(initial, theirs);
              for (const [k, el] of Object.entries(inputs)) if (!changed.includes(k) && !(k === 'currency' && changed.includes('price'))) el.value = theirs[k] ?? '';
              etag = r.etag;
              save();
            },
          },
        }, 'Re-apply my changes')));
    replace(conflict, box);
    box.querySelector('button.primary').focus();
  }

  replace(main, h('h1', creating ? 'New book' : `Edit: ${base.title}`), form);
  inputs[creating && initial.isbn ? 'title' : 'isbn'].focus();
}
