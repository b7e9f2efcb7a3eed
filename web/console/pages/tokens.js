// API tokens (admins): the tokens scripts use (never their secrets), made with a name and a role, rotated (a new
// secret, the old one working until it is revoked) and revoked. A new secret is shown once.
import { html, useState } from '../../common/html.js';
import { fmtTime, t } from '../../common/i18n.js';
import { DataTable } from '../../common/components/table.js';
import { ErrorBox, Pill } from '../../common/components/misc.js';
import { Form } from '../../common/components/form.js';
import { confirmDialog } from '../../common/components/dialog.js';
import { useLoad } from '../../common/hooks.js';
import { api } from '../session.js';
import { acting } from '../actions.js';
import { roleLabel } from '../format.js';

export function Tokens() {
  const list = useLoad(() => api.get('/api/tokens'), []);
  const [secret, setSecret] = useState(null);
  const act = acting(() => list.reload());
  const state = (k) => (k.revoked_at ? ['bad', t('tokens.state_revoked')] : ['ok', t('tokens.active')]);
  return html`
    <h1>${t('tokens.title')}</h1>
    <p class="muted">${t('tokens.help')}</p>
    <${ErrorBox} error=${list.error} />
    ${secret && html`<div class="note" id="new-token" role="status">${t('tokens.shown_once', { name: secret.name })}
      <code id="new-token-secret">${secret.token}</code></div>`}
    <${DataTable} id="tokens" caption=${t('tokens.title')} rows=${list.data && list.data.tokens} rowKey=${(k) => String(k.id)}
      columns=${[
        { key: 'id', label: '#', value: (k) => k.id },
        { key: 'name', label: t('tokens.name') },
        { key: 'role', label: t('accounts.role'), value: (k) => roleLabel(k.role) },
        { key: 'state', label: t('accounts.state'), value: (k) => state(k)[1], render: (k) => html`<${Pill} tone=${state(k)[0]}>${state(k)[1]}<//>` },
        { key: 'created_at', label: t('tokens.created'), value: (k) => k.created_at, render: (k) => html`${fmtTime(k.created_at)} <span class="muted">${k.created_by || ''}</span>` },
        { key: 'last_used_at', label: t('tokens.last_used'), value: (k) => k.last_used_at, render: (k) => fmtTime(k.last_used_at) },
        { key: 'actions', label: t('app.actions'), sortable: false, render: (k) => (k.revoked_at ? '' : html`<span class="row-actions">
          <button type="button" data-action="rotate" onClick=${async () => {
            if (await confirmDialog({ title: t('tokens.rotate'), message: t('tokens.rotate_confirm', { name: k.name }), confirmLabel: t('tokens.rotate') })) {
              act(async () => { const a = await api.post(`/api/tokens/${k.id}/rotate`); setSecret({ ...a, name: k.name }); }, t('tokens.rotated'));
            }
          }}>${t('tokens.rotate')}</button>
          <button type="button" class="danger" data-action="revoke" onClick=${async () => {
            if (await confirmDialog({ title: t('tokens.revoke'), message: t('tokens.revoke_confirm', { name: k.name }), confirmLabel: t('tokens.revoke'), danger: true })) {
              act(() => api.del(`/api/tokens/${k.id}`), t('tokens.revoked_done'));
            }
          }}>${t('tokens.revoke')}</button></span>`) },
      ]} />
    <section aria-labelledby="token-new-h">
      <h2 id="token-new-h">${t('tokens.create')}</h2>
      <${Form} id="token-create" resetOnSuccess submitLabel=${t('tokens.create')} fields=${[
        { name: 'name', label: t('tokens.name'), type: 'text', required: true, maxLength: 64, hint: t('tokens.name_hint') },
        { name: 'role', label: t('accounts.role'), type: 'select', required: true, initial: 'viewer',
          options: ['viewer', 'operator', 'admin'].map((r) => ({ value: r, label: roleLabel(r) })) },
      ]} onSubmit=${async (v) => {
        setSecret(await api.post('/api/tokens', { name: v.name, role: v.role }));
        list.reload();
      }} />
    </section>`;
}
