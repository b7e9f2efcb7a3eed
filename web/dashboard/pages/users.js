// Users (admins): invite by e-mail with a role and, for operators and viewers, their sites; change a role or
// sites, disable / enable, delete. Every change is audited by the cloud.
import { html } from '../../common/html.js';
import { t } from '../../common/i18n.js';
import { usePoll } from '../../common/hooks.js';
import { isMissingRoute } from '../../common/api.js';
import { DataTable } from '../../common/components/table.js';
import { Form } from '../../common/components/form.js';
import { confirmDialog } from '../../common/components/dialog.js';
import { toast } from '../../common/components/toast.js';
import { ErrorBox, Pill } from '../../common/components/misc.js';
import { api, me } from '../session.js';
import { ID, roleLabel } from '../format.js';

export function roleOptions() {
  return ['viewer', 'operator', 'admin'].map((r) => ({ value: r, label: roleLabel(r) }));
}

export function Users() {
  const { data, error, refresh } = usePoll(api, '/api/users');
  const missing = isMissingRoute(error);
  const users = data ? (Array.isArray(data) ? data : data.users || []) : undefined;
  const self = (me.get() || {}).email;
  const act = async (fn, done) => {
    try {
      await fn();
      toast(done, 'ok');
      refresh();
    } catch (err) {
      toast(err.message, 'error');
    }
  };
  const path = (u) => `/api/users/${encodeURIComponent(u.email)}`;
  const remove = async (u) => {
    if (await confirmDialog({ title: t('users.delete_title', { email: u.email }), message: t('users.delete_message'), confirmLabel: t('users.delete'), danger: true })) {
      act(() => api.del(path(u)), t('users.deleted', { email: u.email }));
    }
  };
  const toggle = async (u) => {
    const enabled = u.enabled === false;
    if (!enabled && !(await confirmDialog({ title: t('users.disable_title', { email: u.email }), message: t('users.disable_message'), confirmLabel: t('users.disable'), danger: true }))) return;
    act(() => api.patch(path(u), { enabled }), enabled ? t('users.enabled_done', { email: u.email }) : t('users.disabled_done', { email: u.email }));
  };
  return html`
    <h1>${t('users.title')}</h1>
    ${missing ? html`<p class="note" id="users-missing">${t('users.unavailable')}</p>` : html`<${ErrorBox} error=${error} />`}
    <section class="card">
      <h2>${t('users.invite')}</h2>
      <${Form} id="invite-form" submitLabel=${t('users.invite')} resetOnSuccess=${true} fields=${[
        { name: 'email', label: t('signin.email'), type: 'email', required: true, maxLength: 254 },
        { name: 'role', label: t('users.role'), type: 'select', options: roleOptions(), initial: 'viewer' },
        { name: 'sites', label: t('users.sites'), type: 'list', maxItems: 100, maxLength: 7000, pattern: ID, patternMessage: 'form.bad_id', hint: t('users.sites_hint') },
      ]} onSubmit=${async (v) => {
        const body = { email: v.email, role: v.role };
        if (v.sites.length) body.sites = v.sites;
        await api.post('/api/users', body);
        toast(t('users.invited', { email: v.email }), 'ok');
        refresh();
      }} />
    </section>
    <${DataTable} id="users-table" caption=${t('users.title')} rows=${users} rowKey=${(u) => u.email}
      columns=${[
        { key: 'email', label: t('signin.email') },
        { key: 'role', label: t('users.role'), render: (u) => (u.email === self ? roleLabel(u.role) : html`<select aria-label=${t('users.role_of', { email: u.email })} class="user-role" value=${u.role}
          onChange=${(e) => act(() => api.patch(path(u), { role: e.target.value }), t('users.role_changed', { email: u.email }))}>
          ${roleOptions().map((o) => html`<option value=${o.value}>${o.label}</option>`)}</select>`) },
        { key: 'sites', label: t('users.sites'), value: (u) => (u.sites ? u.sites.join(', ') : t('users.all_sites')) },
        { key: 'enabled', label: t('users.state'), value: (u) => (u.enabled === false ? 0 : 1),
          render: (u) => html`<${Pill} tone=${u.enabled === false ? 'bad' : 'ok'}>${u.enabled === false ? t('users.disabled') : (u.status || t('users.active'))}<//>` },
        { key: 'actions', label: t('app.actions'), sortable: false, value: () => '', render: (u) => (u.email === self ? '' : html`
          <button type="button" class="user-toggle" onClick=${() => toggle(u)}>${u.enabled === false ? t('users.enable') : t('users.disable')}</button>
          <button type="button" class="danger user-delete" onClick=${() => remove(u)}>${t('users.delete')}</button>`) },
      ]} />`;
}
