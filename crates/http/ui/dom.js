// Small DOM helpers. Text always goes in as text nodes (never innerHTML), so nothing the API
// returns can become markup; and no inline style attributes (the CSP forbids them).

/** h('tag.class#id', {attrs, on: {click}}, ...children) */
export function h(spec, attrs, ...children) {
  if (attrs == null || typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs)) {
    if (attrs != null) children.unshift(attrs);
    attrs = {};
  }
  const [, tag = 'div', rest = ''] = spec.match(/^([a-z0-9-]*)(.*)$/i);
  const el = document.createElement(tag || 'div');
  for (const part of rest.match(/[.#][^.#]+/g) || []) {
    if (part[0] === '.') el.classList.add(part.slice(1));
    else el.id = part.slice(1);
  }
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let idSeq = 0;
export const uid = (p = 'f') => `${p}${++idSeq}`;

/** A labelled form field whose errors the API's `errors[].field` can find by name. */
export function field(label, input, hint) {
  const id = input.id || (input.id = uid());
  const err = h('p.field-error', { id: `${id}-err`, hidden: true });
  input.setAttribute('aria-describedby', `${id}-err`);
  return h('div.field', { dataset: { field: input.name || '' } },
    h('label', { for: id }, label), input, hint ? h('small.muted', hint) : null, err);
}

/** Puts each field error next to its field; the rest in `summary`. Returns the first field. */
export function showFieldErrors(form, errors, summary) {
  clearFieldErrors(form);
  const loose = [];
  let first = null;
  for (const { field: name, message } of errors || []) {
    const key = String(name).split(/[.[]/)[0];
    const box = form.querySelector(`.field[data-field="${CSS.escape(key)}"]`);
    if (!box) { loose.push(`${name}: ${message}`); continue; }
    const p = box.querySelector('.field-error');
    p.hidden = false;
    p.textContent = p.textContent ? `${p.textContent}; ${message}` : message;
    const input = box.querySelector('input,select,textarea');
    input?.setAttribute('aria-invalid', 'true');
    first ||= input;
  }
  if (summary) replace(summary, loose.length ? loose.join('. ') : '');
  first?.focus();
  return first;
}

export function clearFieldErrors(form) {
  for (const p of form.querySelectorAll('.field-error')) { p.hidden = true; p.textContent = ''; }
  for (const i of form.querySelectorAll('[aria-invalid]')) i.removeAttribute('aria-invalid');
}

export function toast(message, kind = 'info') {
  const box = document.getElementById('toasts');
  const t = h(`div.toast.${kind}`, message);
  box.append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 8000 : 4000);
}

/** A modal confirmation (the native <dialog>): resolves true when confirmed. */
export function confirmDialog(title, text, confirmLabel = 'Confirm', danger = false) {
  return new Promise((resolve) => {
    const ok = h(`button${danger ? '.danger' : '.primary'}`, { type: 'submit', value: 'ok' }, confirmLabel);
    const dlg = h('dialog', { 'aria-labelledby': 'dlg-title' },
      h('form', { method: 'dialog' },
        h('h2#dlg-title', title), h('p', text),
        h('div.actions', h('button', { type: 'submit', value: 'cancel' }, 'Cancel'), ok)));
    dlg.addEventListener('close', () => { dlg.remove(); resolve(dlg.returnValue === 'ok'); });
    document.body.append(dlg);
    dlg.showModal();
    ok.focus();
  });
}

export const fmtDate = (s) => (s ? new Date(s).toLocaleString() : '');
export const fmtPrice = (p) => (p ? `${p.amount} ${p.currency}` : '');

export function stockBadge(book) {
  const q = book.quantity ?? 0;
  const [cls, text] = q <= 0 ? ['out', 'Out of stock']
    : q <= (book.reorder_point ?? 0) ? ['low', `Low: ${q}`] : ['in', `In stock: ${q}`];
  return h(`span.badge.${cls}`, { dataset: { testid: 'stock-badge' } }, text);
}

/** Debounce a function by `ms`. */
export function debounce(fn, ms) {
  let t;
  return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
}

/** Saves a Blob as a file through a temporary link. */
export function download(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
