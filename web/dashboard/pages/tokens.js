// API tokens (admins): list (never their secrets), create (the secret shown once), revoke.
import { html, useState } from '../../common/html.js';
import { fmtTime, t } from '../../common/i18n.js';
import { usePoll } from '../../common/hooks.js';
import { DataTable } from '../../common/components/table.js';
import { Form } from '../../common/components/form.js';
import { confirmDialog } from '../../common/components/dialog.js';
import { toast } from '../../common/components/toast.js';
import { ErrorBox } from '../../common/components/misc.js';
import { api } from '../session.js';
import { roleOptions } from './users.js';
import { ID } from '../format.js';

export function Tokens() {
  const { data, error, refresh } = usePoll(api, '/api/tokens', { limit: 500 });
  const [secret, setSecret] = useState(null);
  const revoke = async (tok) => {
    const ok = await confirmDialog({ title: t('tokens.revoke_title', { name: tok.name }), message: t('tokens.revoke_message'), confirmLabel: t('tokens.revoke'), danger: true });
    if (!ok) return;
    try {
      await api.del(`/api/tokens/${encodeURIComponent(tok.token_id)}`);
      toast(t('tokens.revoked', { name: tok.name }), 'ok');
      refresh();
    } catch (err) {
      toast(err.message, 'error');
    }
  };
  return html`
    <h1>${t('tokens.title')}</h1>
    <section class="card">
      <h2>${t('tokens.create')}</h2>
      <${Form} id="token-form" submitLabel=${t('tokens.create')} resetOnSuccess=${true} fields=${[
        { name: 'name', label: t('tokens.name'), required: true, maxLength: 128 },
        { name: 'role', label: t('users.role'), type: 'select', options: roleOptions(), initial: 'viewer' },
        { name: 'site_ids', label: t('users.sites'), type: 'list', maxItems: 100, maxLength: 7000, pattern: ID, patternMessage: 'form.bad_id', hint: t('users.sites_hint') },
        { name: 'ttl_days', label: t('tokens.ttl_days'), type: 'int', min: 1, max: 365, initial: '90' },
      ]} onSubmit=${async (v) => {
        const body = { name: v.name, role: v.role, ttl_s: (v.ttl_days || 90) * 86400 };
        if (v.site_ids.length) body.site_ids = v.site_ids;
        const made = await api.post('/api/tokens', body);
        setSecret(made);
        refresh();
      }} />
      ${secret && html`<div class="card secret" id="token-secret" role="status">
        <p>${t('tokens.secret_once', { name: secret.name || '' })}</p><pre>${secret.token || secret.secret}</pre>
        <button type="button" onClick=${() => setSecret(null)}>${t('tokens.secret_done')}</button></div>`}
    </section>
    <${ErrorBox} error=${error} />
    <${DataTable} id="tokens-table" caption=${t('tokens.title')} rows=${data ? data.tokens : undefined} rowKey=${(x) => x.token_id}
      columns=${[
        { key: 'name', label: t('tokens.name') },
        { key: 'role', label: t('users.role') },
        { key: 'site_ids', label: t('users.sites'), value: (x) => (x.site_ids ? x.site_ids.join(', ') : t('users.all_sites')) },
        { key: 'created_at', label: t('tokens.created'), render: (x) => fmtTime(x.created_at) },
        { key: 'expires_at', label: t('tokens.expires'), render: (x) => fmtTime(x.expires_at) },
        { key: 'actions', label: t('app.actions'), sortable: false, value: () => '',
          render: (x) => html`<button type="button" class="danger token-revoke" onClick=${() => revoke(x)}>${t('tokens.revoke')}</button>` },
      ]} />`;
}
