// The sign-in page: e-mail + password, then whatever the pool asks (a new password at first sign-in, a TOTP
// code); forgot / reset password; and, under "advanced", an API token (scripts, tests).
import { html, useState } from '../common/html.js';
import { t } from '../common/i18n.js';
import { Form } from '../common/components/form.js';
import { Preferences } from '../common/components/misc.js';
import { ApiClient, ApiError } from '../common/api.js';
import { useStore } from '../common/hooks.js';
import { anonymous, expired, startSession } from './session.js';

const PASSWORD = { type: 'password', required: true, maxLength: 256, pattern: /^.{8,}$/, patternMessage: 'signin.password_rule' };

function explain(err) {
  if (err instanceof ApiError && err.status === 401) return t('signin.wrong');
  if (err instanceof ApiError && err.status === 0) return t('signin.unreachable');
  if (err instanceof ApiError && err.status === 429) return t('signin.too_many');
  return (err && err.message) || String(err);
}

export function SignIn({ onSignedIn }) {
  const [step, setStep] = useState({ kind: 'password' });
  const [note, setNote] = useState('');
  const wasExpired = useStore(expired);

  const finish = async (answer, email) => {
    if (answer && answer.challenge) {
      setStep({ kind: answer.challenge, session: answer.session, email });
      return;
    }
    expired.set(false);
    startSession(answer, 'cognito'); // the app then asks who this is (GET /api/me)
    onSignedIn();
  };
  const call = async (path, body) => {
    try {
      return await anonymous.post(path, body, { anonymous: true });
    } catch (err) {
      throw new Error(explain(err));
    }
  };

  let body;
  if (step.kind === 'password') {
    body = html`
      <${Form} id="signin" submitLabel=${t('signin.submit')} fields=${[
        { name: 'email', label: t('signin.email'), type: 'email', required: true, maxLength: 254, autocomplete: 'username' },
        { name: 'password', label: t('signin.password'), type: 'password', required: true, maxLength: 256, autocomplete: 'current-password' },
      ]} onSubmit=${async (v) => finish(await call('/api/auth/sign-in', v), v.email)}
        secondary=${html`<button type="button" class="link" id="forgot-link" onClick=${() => setStep({ kind: 'forgot' })}>${t('signin.forgot')}</button>`} />
      <details class="advanced">
        <summary>${t('signin.advanced')}</summary>
        <p class="muted">${t('signin.token_help')}</p>
        <${Form} id="token-signin" submitLabel=${t('signin.token_submit')} fields=${[
          { name: 'token', label: t('signin.token'), type: 'password', required: true, maxLength: 512, pattern: /^[A-Za-z0-9_.-]+$/, patternMessage: 'signin.token_format' },
        ]} onSubmit=${async (v) => {
          // checked before it is kept: a refused token leaves no session behind
          const probe = new ApiClient({ getToken: async () => v.token });
          try {
            await probe.get('/api/lms', { limit: 1 });
          } catch (err) {
            throw new Error(err instanceof ApiError && err.status === 401 ? t('signin.token_refused') : explain(err));
          }
          expired.set(false);
          startSession({ access_token: v.token }, 'token');
          onSignedIn();
        }} />
      </details>`;
  } else if (step.kind === 'NEW_PASSWORD_REQUIRED') {
    body = html`<p>${t('signin.new_password_help')}</p>
      <${Form} id="new-password" submitLabel=${t('signin.set_password')} fields=${[
        { name: 'new_password', label: t('signin.new_password'), ...PASSWORD, autocomplete: 'new-password' },
        { name: 'confirm', label: t('signin.confirm_password'), type: 'password', required: true, maxLength: 256, autocomplete: 'new-password' },
      ]} onSubmit=${async (v) => {
        if (v.new_password !== v.confirm) throw new Error(t('signin.mismatch'));
        await finish(await call('/api/auth/challenge', { email: step.email, challenge: step.kind, session: step.session, new_password: v.new_password }), step.email);
      }} />`;
  } else if (step.kind === 'SOFTWARE_TOKEN_MFA') {
    body = html`<p>${t('signin.mfa_help')}</p>
      <${Form} id="mfa" submitLabel=${t('signin.verify')} fields=${[
        { name: 'code', label: t('signin.mfa_code'), type: 'text', required: true, maxLength: 6, pattern: /^\d{6}$/, patternMessage: 'signin.mfa_format', autocomplete: 'one-time-code' },
      ]} onSubmit=${async (v) => finish(await call('/api/auth/challenge', { email: step.email, challenge: step.kind, session: step.session, code: v.code }), step.email)} />`;
  } else if (step.kind === 'forgot') {
    body = html`<p>${t('signin.forgot_help')}</p>
      <${Form} id="forgot" submitLabel=${t('signin.send_code')} fields=${[
        { name: 'email', label: t('signin.email'), type: 'email', required: true, maxLength: 254, autocomplete: 'username' },
      ]} onSubmit=${async (v) => {
        await call('/api/auth/forgot', { email: v.email });
        setStep({ kind: 'reset', email: v.email });
      }} secondary=${html`<button type="button" class="link" onClick=${() => setStep({ kind: 'password' })}>${t('signin.back')}</button>`} />`;
  } else if (step.kind === 'reset') {
    body = html`<p>${t('signin.reset_help', { email: step.email })}</p>
      <${Form} id="reset" submitLabel=${t('signin.reset')} fields=${[
        { name: 'code', label: t('signin.reset_code'), type: 'text', required: true, maxLength: 16, pattern: /^\d{4,16}$/, patternMessage: 'signin.code_format', autocomplete: 'one-time-code' },
        { name: 'new_password', label: t('signin.new_password'), ...PASSWORD, autocomplete: 'new-password' },
      ]} onSubmit=${async (v) => {
        await call('/api/auth/reset', { email: step.email, code: v.code, new_password: v.new_password });
        setNote(t('signin.reset_done'));
        setStep({ kind: 'password' });
      }} />`;
  } else {
    body = html`<p class="errorbox">${t('signin.unknown_challenge')}</p>
      <button type="button" onClick=${() => setStep({ kind: 'password' })}>${t('signin.back')}</button>`;
  }
  return html`
    <main class="signin" id="signin-page">
      <div class="card">
        <div class="row signin-head"><h1>${t('app.title')}</h1><${Preferences} /></div>
        ${wasExpired && html`<p class="errorbox" role="alert">${t('signin.expired')}</p>`}
        ${note && html`<p class="note" role="status">${note}</p>`}
        ${body}
      </div>
    </main>`;
}
