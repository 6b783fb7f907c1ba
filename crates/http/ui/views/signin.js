import * as api from '../api.js';
import { h, replace, field } from '../dom.js';

export async function render(main) {
  const user = h('input', { name: 'username', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const pass = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const message = h('p.error', { role: 'alert', dataset: { testid: 'signin-error' } });
  const button = h('button.primary', { type: 'submit' }, 'Sign in');
  const form = h('form.signin', {
    on: {
      async submit(e) {
        e.preventDefault();
        button.disabled = true;
        replace(message);
        try {
          await api.signIn(user.value.trim(), pass.value);
        } catch (err) {
          replace(message, api.explain(err));
          pass.select();
        } finally {
          button.disabled = false;
        }
      },
    },
  },
  h('h1', 'Sign in'),
  h('p.muted', 'Bookstore staff screens'),
  field('Username', user), field('Password', pass), message, button);
  replace(main, form);
  user.focus();
}
