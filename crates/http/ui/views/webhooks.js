// Webhooks (admins): subscribe, pause, ping, rotate the secret, delivery log, remove.
import * as api from '../api.js';
import { h, replace, field, toast, fmtDate, confirmDialog, showFieldErrors, clearFieldErrors } from '../dom.js';
import { table } from './book.js';

const TYPES = ['bookstore.book.created', 'bookstore.book.updated', 'bookstore.book.deleted', 'bookstore.book.stock_adjusted'];

export async function render(main) {
  if (!api.isAdmin()) { replace(main, h('h1', 'Webhooks'), h('p', 'Only admins manage webhooks.')); return; }
  const list = h('div');
  const log = h('div');
  const secret = h('div', { role: 'status' });
  const showSecret = (w) => replace(secret, h('p', 'Signing secret (shown once, keep it now): '), h('p.secret', w.secret));
  const act = async (fn, done) => { try { const r = await fn(); toast(done); await load(); return r; } catch (err) { toast(api.explain(err), 'error'); return null; } };

  const load = async () => {
    const page = await api.get('/webhooks?limit=100');
    replace(list, page.items.length ? table(['URL', 'Events', 'State', 'Actions'], page.items.map((w) => [
      w.url, w.event_types.join(', '), w.active ? 'Active' : 'Paused',
      h('div.actions',
        h('button', { type: 'button', on: { click: () => act(() => api.request(`/webhooks/${w.id}`, { method: 'PATCH', body: { active: !w.active } }), w.active ? 'Paused.' : 'Resumed.') } }, w.active ? 'Pause' : 'Resume'),
        h('button', { type: 'button', on: { click: () => act(() => api.request(`/webhooks/${w.id}/ping`, { method: 'POST' }), 'Ping sent.') } }, 'Ping'),
        h('button', { type: 'button', on: { async click() { const r = await act(() => api.request(`/webhooks/${w.id}/rotate-secret`, { method: 'POST' }), 'New secret.'); if (r) showSecret(r.body); } } }, 'Rotate secret'),
        h('button', { type: 'button', on: { click: () => deliveries(w) } }, 'Deliveries'),
        h('button.danger', { type: 'button', on: { async click() { if (await confirmDialog('Remove this webhook?', `${w.url} gets no more events; its delivery log goes too.`, 'Remove', true)) act(() => api.request(`/webhooks/${w.id}`, { method: 'DELETE' }), 'Removed.'); } } }, 'Remove')),
    ])) : h('p.muted', 'No webhooks.'));
  };

  async function deliveries(w) {
    const page = await api.get(`/webhooks/${w.id}/deliveries?limit=50`);
    replace(log, h('h2', `Deliveries to ${w.url}`), page.items.length ? table(['Created', 'Event', 'Status', 'Code', 'Attempts', 'Next attempt', ''], page.items.map((d) => [
      fmtDate(d.created_at), d.event_type, d.status, d.response_code ?? '', d.attempts, fmtDate(d.next_attempt_at),
      h('button', { type: 'button', on: { click: () => act(() => api.request(`/webhooks/${w.id}/deliveries/${d.id}/redeliver`, { method: 'POST' }), 'Queued again.') } }, 'Redeliver')])) : h('p.muted', 'No deliveries yet.'));
  }

  const url = h('input', { name: 'url', type: 'url', required: true, placeholder: 'https://example.com/hooks/bookstore' });
  const description = h('input', { name: 'description' });
  const boxes = TYPES.map((t) => h('input', { type: 'checkbox', value: t, checked: true, id: `wh-${t}` }));
  const summary = h('p.error', { role: 'alert' });
  const form = h('form', {
    on: {
      async submit(e) {
        e.preventDefault();
        clearFieldErrors(form);
        try {
          const r = await api.request('/webhooks', { method: 'POST', body: { url: url.value.trim(), description: description.value.trim() || undefined, event_types: boxes.filter((b) => b.checked).map((b) => b.value) }, headers: { 'Idempotency-Key': crypto.randomUUID() } });
          showSecret(r.body);
          form.reset();
          await load();
        } catch (err) {
          if (err.errors.length) showFieldErrors(form, err.errors, summary); else replace(summary, api.explain(err));
        }
      },
    },
  }, h('h2', 'Subscribe a URL'), h('div.row', field('URL', url), field('Description', description)),
  h('fieldset.facet', { dataset: { field: 'event_types' } }, h('legend', 'Events'), TYPES.map((t, i) => h('label.check', boxes[i], ` ${t}`))),
  summary, h('button.primary', { type: 'submit' }, 'Subscribe'));
  replace(main, h('h1', 'Webhooks'), secret, list, form, log);
  await load();
}
