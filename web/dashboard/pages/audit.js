// The audit log (admins): newest first, filtered by time range (server side) and actor, action, result.
import { html, useMemo, useState } from '../../common/html.js';
import { fmtTime, t } from '../../common/i18n.js';
import { usePollWith } from '../../common/hooks.js';
import { DataTable } from '../../common/components/table.js';
import { Form } from '../../common/components/form.js';
import { ErrorBox, Pill } from '../../common/components/misc.js';
import { api } from '../session.js';

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const toEpoch = (day, end = false) => (day ? Date.parse(`${day}T00:00:00`) / 1000 + (end ? 86400 : 0) : undefined);

export function Audit() {
  const [range, setRange] = useState({ since: '', until: '' });
  const params = { since: toEpoch(range.since), until: toEpoch(range.until, true) };
  const { data, error } = usePollWith((p) => api.pollAll(p, '/api/audit', 'entries', params, 2000), `audit/${range.since}/${range.until}`);
  const rows = data ? data.entries : undefined;
  const filters = useMemo(() => {
    const list = rows || [];
    const opts = (pick) => [...new Set(list.map(pick).filter(Boolean))].sort().map((x) => ({ value: x, label: x }));
    return [
      { key: 'actor', label: t('audit.actor'), options: opts((e) => e.actor) },
      { key: 'action', label: t('audit.action'), options: opts((e) => e.action) },
      { key: 'result', label: t('audit.result'), options: opts((e) => e.result) },
    ];
  }, [rows]);
  return html`
    <h1>${t('audit.title')}</h1>
    <${Form} id="audit-range" compact=${true} submitLabel=${t('audit.apply')} fields=${[
      { name: 'since', label: t('audit.since'), maxLength: 10, pattern: DAY, patternMessage: 'audit.bad_day', placeholder: 'YYYY-MM-DD', initial: range.since },
      { name: 'until', label: t('audit.until'), maxLength: 10, pattern: DAY, patternMessage: 'audit.bad_day', placeholder: 'YYYY-MM-DD', initial: range.until },
    ]} onSubmit=${async (v) => setRange({ since: v.since || '', until: v.until || '' })} />
    <${ErrorBox} error=${error} />
    <${DataTable} id="audit-table" caption=${t('audit.title')} rows=${rows} rowKey=${(e) => e.id} filters=${filters}
      initialSort=${{ key: 'at', dir: -1 }}
      columns=${[
        { key: 'at', label: t('audit.when'), render: (e) => fmtTime(e.at) },
        { key: 'actor', label: t('audit.actor') },
        { key: 'role', label: t('audit.role') },
        { key: 'action', label: t('audit.action') },
        { key: 'target', label: t('audit.target'), render: (e) => html`<code>${e.target}</code>` },
        { key: 'status', label: t('audit.status') },
        { key: 'result', label: t('audit.result'), render: (e) => html`<${Pill} tone=${e.result === 'ok' ? 'ok' : 'bad'}>${e.result}<//>` },
      ]} />`;
}
