// Signing in to the site console: user name + password; a one-time password (the first admin's, an invitation,
// a reset) must be changed before anything else.
import { html } from '../common/html.js';
import { t } from '../common/i18n.js';
import { Form } from '../common/components/form.js';
import { Preferences } from '../common/components/misc.js';
import { ApiError } from '../common/api.js';
import { useStore } from '../common/hooks.js';
import { changePassword, expired, signIn, signOut } from './session.js';

const NEW_PASSWORD = { type: 'password', required: true, maxLength: 256, pattern: /^.{10,}$/,
  patternMessage: 'signin.password_rule', autocomplete: 'new-password' };

function explain(err) {
  if (err instanceof ApiError && err.status === 401) return (err.details && err.details.locked_until) || /locked/.test(err.message) ? t('signin.locked') : t('signin.wrong');
  if (err instanceof ApiError && err.status === 429) return t('signin.too_many');
  if (err instanceof ApiError && err.status === 0) return t('signin.unreachable');
  return (err && err.message) || String(err);
}

export function SignIn() {
  const wasExpired = useStore(expired);
  return html`
    <main class="signin" id="main">
      <div class="card">
        <h1>${t('app.title')}</h1>
        ${wasExpired && html`<p class="note" id="signin-expired">${t('signin.expired')}</p>`}
        <${Form} id="signin" submitLabel=${t('signin.submit')} fields=${[
          { name: 'username', label: t('signin.username'), type: 'text', required: true, maxLength: 64, autocomplete: 'username',
            pattern: /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/, patternMessage: 'signin.username_rule' },
          { name: 'password', label: t('signin.password'), type: 'password', required: true, maxLength: 256, autocomplete: 'current-password' },
        ]} onSubmit=${async (v) => {
          try {
            await signIn(v.username, v.password);
          } catch (err) {
            throw new Error(explain(err));
          }
        }} />
        <${Preferences} />
      </div>
    </main>`;
}

export function ChangePassword() {
  return html`
    <main class="signin" id="main">
      <div class="card">
        <h1>${t('signin.change_title')}</h1>
        <p class="muted">${t('signin.change_help')}</p>
        <${Form} id="change-password" submitLabel=${t('signin.change_submit')} fields=${[
          { name: 'current', label: t('signin.current_password'), type: 'password', required: true, maxLength: 256, autocomplete: 'current-password' },
          { name: 'next', label: t('signin.new_password'), ...NEW_PASSWORD },
        ]} onSubmit=${async (v) => {
          try {
            await changePassword(v.current, v.next);
          } catch (err) {
            throw new Error(err instanceof ApiError && err.status === 403 ? t('signin.current_wrong') : explain(err));
          }
        }} secondary=${html`<button type="button" class="link" onClick=${signOut}>${t('app.sign_out')}</button>`} />
      </div>
    </main>`;
}
