// The audit log (admins): security and administration events, newest first, with filters.
import * as api from '../api.js';
import { h, replace, field, fmtDate } from '../dom.js';
import { table } from './book.js';

const ACTIONS = ['', 'sign_in', 'sign_in_failed', 'locked_out', 'refresh_reuse', 'password_changed', 'user_created', 'role_changed', 'user_disabled', 'keys_rotated', 'kek_rotated', 'webhook_created', 'webhook_deleted', 'secret_loaded', 'access_denied'];

export async function render(main) {
  if (!api.isAdmin()) { replace(main, h('h1', 'Audit log'), h('p', 'Only admins read the audit log.')); return; }
  const action = h('select', { name: 'action' }, ACTIONS.map((a) => h('option', { value: a }, a || 'All')));
  const actor = h('input', { name: 'actor', autocomplete: 'off' });
  const body = h('div');
  const more = h('button', { type: 'button', hidden: true }, 'More');
  const msg = h('p.error', { role: 'alert' });
  let cursor = null;
  let rows = [];
  const load = async (append) => {
    replace(msg);
    try {
      const page = await api.get(`/audit${api.qs({ action: action.value, actor: actor.value.trim(), limit: 50, cursor: append ? cursor : undefined })}`);
      rows = append ? rows.concat(page.items) : page.items;
      cursor = page.next_cursor;
      more.hidden = !cursor;
      replace(body, rows.length ? table(['When', 'Action', 'Actor', 'Target', 'Client', 'Details'], rows.map((e) => [
        fmtDate(e.at), e.action, e.actor?.name || e.actor?.type || '', (e.target && typeof e.target === 'object' ? JSON.stringify(e.target) : e.target) || '', e.client_ip || '', JSON.stringify(e.details || {})])) : h('p.muted', 'No entries.'));
    } catch (err) { replace(msg, err.errors.map((x) => `${x.field}: ${x.message}`).join('. ') || api.explain(err)); }
  };
  more.addEventListener('click', () => load(true));
  const form = h('form', { on: { submit(e) { e.preventDefault(); load(false); } } },
    h('div.row', field('Action', action), field('Actor', actor), h('div.field', h('span', ' '), h('button.primary', { type: 'submit' }, 'Filter'))));
  replace(main, h('h1', 'Audit log'), form, msg, body, more);
  await load(false);
}
