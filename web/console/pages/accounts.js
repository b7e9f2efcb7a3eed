// Accounts (admins): invite a person (a one-time password to hand over), change a role or the cameras
// permission, disable, unlock, reset a password, remove.
import { html, useState } from '../../common/html.js';
import { fmtTime, t } from '../../common/i18n.js';
import { DataTable } from '../../common/components/table.js';
import { ErrorBox, Pill } from '../../common/components/misc.js';
import { Form } from '../../common/components/form.js';
import { confirmDialog } from '../../common/components/dialog.js';
import { useLoad } from '../../common/hooks.js';
import { api } from '../session.js';
import { acting } from '../actions.js';
import { roleLabel, yesNo } from '../format.js';

const ROLE_OPTIONS = () => ['viewer', 'operator', 'admin'].map((r) => ({ value: r, label: roleLabel(r) }));

export function Accounts() {
  const list = useLoad(() => api.get('/api/accounts'), []);
  const [secret, setSecret] = useState(null);
  const act = acting(() => list.reload());
  const state = (a) => (a.disabled ? ['bad', t('accounts.disabled')] : a.locked ? ['warn', t('accounts.locked')] : ['ok', t('accounts.active')]);
  return html`
    <h1>${t('accounts.title')}</h1>
    <${ErrorBox} error=${list.error} />
    ${secret && html`<div class="note" id="one-time" role="status">${t('accounts.one_time', { name: secret.username })}
      <code id="one-time-password">${secret.one_time_password}</code></div>`}
    <${DataTable} id="accounts" caption=${t('accounts.title')} rows=${list.data && list.data.accounts} rowKey=${(a) => String(a.id)}
      columns=${[
        { key: 'username', label: t('accounts.username') },
        { key: 'role', label: t('accounts.role'), value: (a) => roleLabel(a.role) },
        { key: 'cameras', label: t('accounts.cameras'), value: (a) => yesNo(a.cameras) },
        { key: 'state', label: t('accounts.state'), value: (a) => state(a)[1], render: (a) => html`<${Pill} tone=${state(a)[0]}>${state(a)[1]}<//>` },
        { key: 'last_login_at', label: t('accounts.last_sign_in'), render: (a) => fmtTime(a.last_login_at) },
        { key: 'actions', label: t('app.actions'), sortable: false, render: (a) => html`<span class="row-actions">
          <button type="button" onClick=${() => act(() => api.patch(`/api/accounts/${a.id}`, { disabled: !a.disabled }), t('accounts.saved'))}>
            ${a.disabled ? t('accounts.enable') : t('accounts.disable')}</button>
          ${a.locked && html`<button type="button" onClick=${() => act(() => api.patch(`/api/accounts/${a.id}`, { unlock: true }), t('accounts.saved'))}>${t('accounts.unlock')}</button>`}
          <button type="button" onClick=${() => act(() => api.patch(`/api/accounts/${a.id}`, { cameras: !a.cameras }), t('accounts.saved'))}>
            ${a.cameras ? t('accounts.cameras_off') : t('accounts.cameras_on')}</button>
          <button type="button" onClick=${async () => {
            if (await confirmDialog({ title: t('accounts.reset'), message: t('accounts.reset_confirm', { name: a.username }), confirmLabel: t('accounts.reset') })) {
              act(async () => setSecret(await api.post(`/api/accounts/${a.id}/password-reset`)), t('accounts.saved'));
            }
          }}>${t('accounts.reset')}</button>
          <button type="button" class="danger" onClick=${async () => {
            if (await confirmDialog({ title: t('accounts.remove'), message: t('accounts.remove_confirm', { name: a.username }), confirmLabel: t('accounts.remove'), danger: true })) {
              act(() => api.del(`/api/accounts/${a.id}`), t('accounts.removed'));
            }
          }}>${t('accounts.remove')}</button></span>` },
      ]} />
    <section aria-labelledby="invite-h">
      <h2 id="invite-h">${t('accounts.invite')}</h2>
      <${Form} id="invite" resetOnSuccess submitLabel=${t('accounts.invite')} fields=${[
        { name: 'username', label: t('accounts.username'), type: 'text', required: true, maxLength: 64,
          pattern: /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/, patternMessage: 'signin.username_rule' },
        { name: 'role', label: t('accounts.role'), type: 'select', required: true, options: ROLE_OPTIONS(), initial: 'viewer' },
        { name: 'cameras', label: t('accounts.cameras'), type: 'select', options: [{ value: 'no', label: yesNo(false) }, { value: 'yes', label: yesNo(true) }], initial: 'no' },
      ]} onSubmit=${async (v) => {
        setSecret(await api.post('/api/accounts', { username: v.username, role: v.role, cameras: v.cameras === 'yes' }));
        list.reload();
      }} />
    </section>`;
}
