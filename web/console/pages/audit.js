// The audit log (admins): who did what, when, to what, with filters by actor, action and time.
import { html, useState } from '../../common/html.js';
import { fmtTime, t } from '../../common/i18n.js';
import { DataTable } from '../../common/components/table.js';
import { ErrorBox } from '../../common/components/misc.js';
import { Form } from '../../common/components/form.js';
import { useLoad } from '../../common/hooks.js';
import { api } from '../session.js';

const ACTION = /^[A-Za-z0-9_.:-]{1,128}$/;
const SINCE = [['', () => t('events.since_any')], ['1', () => t('events.since_hour')], ['24', () => t('events.since_day')], ['168', () => t('events.since_week')]];

export function Audit() {
  const [filter, setFilter] = useState({ limit: 200 });
  const log = useLoad(() => api.get('/api/audit', filter), [JSON.stringify(filter)]);
  return html`
    <h1>${t('audit.title')}</h1>
    <${Form} id="audit-filter" compact submitLabel=${t('events.apply')} fields=${[
      { name: 'actor', label: t('audit.actor'), type: 'text', maxLength: 128, hint: t('audit.actor_hint') },
      { name: 'action', label: t('audit.action'), type: 'text', maxLength: 128, pattern: ACTION, patternMessage: 'audit.action_rule', placeholder: 'token:create' },
      { name: 'since', label: t('events.since'), type: 'select', initial: '', options: SINCE.map(([v, l]) => ({ value: v, label: l() })) },
      { name: 'limit', label: t('events.limit'), type: 'int', min: 1, max: 1000, initial: '200', required: true },
    ]} onSubmit=${async (v) => setFilter({ actor: v.actor, action: v.action, limit: v.limit,
      since: v.since ? Math.floor(Date.now() / 1000 - Number(v.since) * 3600) : null })} />
    <${ErrorBox} error=${log.error} />
    <${DataTable} id="audit" caption=${t('audit.title')} rows=${log.data && log.data.entries} rowKey=${(r) => String(r.id)}
      initialSort=${{ key: 'at', dir: -1 }} empty=${t('audit.none')} columns=${[
        { key: 'at', label: t('command.when'), value: (r) => r.at, render: (r) => fmtTime(r.at) },
        { key: 'actor', label: t('audit.actor') },
        { key: 'role', label: t('accounts.role'), value: (r) => r.role || '' },
        { key: 'action', label: t('audit.action') },
        { key: 'target', label: t('audit.target'), value: (r) => r.target || '' },
        { key: 'result', label: t('audit.result'), value: (r) => r.result || '' },
        { key: 'detail', label: t('audit.detail'), sortable: false, render: (r) => (r.detail === null || r.detail === undefined ? '' : html`<code>${JSON.stringify(r.detail).slice(0, 200)}</code>`) },
      ]} />`;
}
