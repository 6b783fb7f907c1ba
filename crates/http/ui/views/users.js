// Users (admins): create, change role, disable or enable, reset password, unlock.
import * as api from '../api.js';
import { h, replace, field, toast, fmtDate, confirmDialog, showFieldErrors, clearFieldErrors } from '../dom.js';

export async function render(main) {
  if (!api.isAdmin()) { replace(main, h('h1', 'Users'), h('p', 'Only admins manage users.')); return; }
  const list = h('div');
  const load = async () => {
    const page = await api.get('/users?limit=100');
    replace(list, h('div.scroll', { tabindex: 0, role: 'region', 'aria-label': 'Table (scrolls sideways)' }, h('table',
      h('thead', h('tr', ['User', 'Role', 'State', 'Created', 'Actions'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', page.items.map(row)))));
  };
  const act = async (fn, done) => { try { await fn(); toast(done); await load(); } catch (err) { toast(api.explain(err), 'error'); } };
  const patch = (u, body) => api.request(`/users/${u.id}`, { method: 'PATCH', body });

  function row(u) {
    const self = u.id === api.user().id;
    const role = h('select', { 'aria-label': `Role of ${u.username}`, disabled: self },
      ['staff', 'admin'].map((r) => h('option', { value: r, selected: r === u.role }, r)));
    role.addEventListener('change', () => act(() => patch(u, { role: role.value }), `${u.username} is now ${role.value}.`));
    return h('tr', { dataset: { user: u.username } },
      h('td', u.username), h('td', role), h('td', u.disabled ? 'Disabled' : 'Active'), h('td', fmtDate(u.created_at)),
      h('td', h('div.actions',
        self ? null : h('button', {
          type: 'button',
          on: {
            async click() {
              if (u.disabled) return act(() => patch(u, { disabled: false }), `${u.username} enabled.`);
              if (await confirmDialog(`Disable ${u.username}?`, 'Their sign-ins end at once.', 'Disable', true)) act(() => patch(u, { disabled: true }), `${u.username} disabled.`);
            },
          },
        }, u.disabled ? 'Enable' : 'Disable'),
        h('button', { type: 'button', on: { click: () => resetPassword(u) } }, 'Reset password'),
        h('button', { type: 'button', on: { click: () => act(() => api.request(`/users/${u.id}/unlock`, { method: 'POST' }), `${u.username} unlocked.`) } }, 'Unlock'))));
  }

  async function resetPassword(u) {
    const pw = h('input', { type: 'password', name: 'password', autocomplete: 'new-password', required: true });
    const err = h('p.error', { role: 'alert' });
    const dlg = h('dialog', { 'aria-labelledby': 'pw-title' }, h('form', {
      on: {
        async submit(e) {
          e.preventDefault();
          try { await patch(u, { password: pw.value }); dlg.close(); toast(`Password of ${u.username} reset; their sign-ins ended.`); } catch (x) {
            replace(err, x.errors.map((f) => f.message).join('. ') || api.explain(x));
          }
        },
      },
    }, h('h2#pw-title', `New password for ${u.username}`), field('New password', pw), err,
    h('div.actions', h('button', { type: 'button', on: { click: () => dlg.close() } }, 'Cancel'), h('button.primary', { type: 'submit' }, 'Set password'))));
    dlg.addEventListener('close', () => dlg.remove());
    document.body.append(dlg);
    dlg.showModal();
    pw.focus();
  }

  const username = h('input', { name: 'username', autocomplete: 'off', required: true });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'new-password', required: true });
  const newRole = h('select', { name: 'role' }, h('option', { value: 'staff' }, 'staff'), h('option', { value: 'admin' }, 'admin'));
  const summary = h('p.error', { role: 'alert' });
  const form = h('form', {
    on: {
      async submit(e) {
        e.preventDefault();
        clearFieldErrors(form);
        replace(summary);
        try {
          await api.request('/users', { method: 'POST', body: { username: username.value.trim(), password: password.value, role: newRole.value }, headers: { 'Idempotency-Key': crypto.randomUUID() } });
          toast(`User ${username.value.trim()} created.`);
          form.reset();
          await load();
        } catch (err) {
          if (err.errors.length) showFieldErrors(form, err.errors, summary);
          else replace(summary, err.status === 409 ? 'That username is taken.' : api.explain(err));
        }
      },
    },
  }, h('h2', 'New user'), h('div.row', field('Username', username), field('Password', password, 'At least 12 characters'), field('Role', newRole)), summary,
  h('button.primary', { type: 'submit' }, 'Create user'));
  replace(main, h('h1', 'Users'), list, form);
  await load();
}
