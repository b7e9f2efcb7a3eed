// Agents: every agent the caller may see (thousands: one page rendered at a time), searched, filtered by site,
// status, kind, group and tag, sorted; a selection goes to the Commands page as a batch (operators).
import { html, useMemo, useState } from '../../common/html.js';
import { fmtAgo, t } from '../../common/i18n.js';
import { usePollWith } from '../../common/hooks.js';
import { DataTable } from '../../common/components/table.js';
import { ErrorBox, Pill } from '../../common/components/misc.js';
import { api, can } from '../session.js';
import { agentHref, presenceLabel, PresencePill, siteHref } from '../format.js';
import { preset } from './commands.js';

const distinct = (rows, pick) => [...new Set(rows.flatMap((r) => pick(r) ?? []).filter(Boolean))].sort();

export function Agents() {
  const { data, error } = usePollWith((p) => api.pollAll(p, '/api/agents', 'agents'), 'agents');
  const [selected, setSelected] = useState(new Set());
  const rows = data ? data.agents : undefined;
  const filters = useMemo(() => {
    const list = rows || [];
    const opts = (xs) => xs.map((x) => ({ value: x, label: x }));
    return [
      { key: 'site_id', label: t('agent.site'), options: opts(distinct(list, (a) => a.site_id)) },
      { key: 'status', label: t('agent.status'), options: distinct(list, (a) => a.status).map((s) => ({ value: s, label: presenceLabel(s) })) },
      { key: 'kind', label: t('agent.kind'), options: opts(distinct(list, (a) => a.kind)) },
      { key: 'group', label: t('agent.group'), options: opts(distinct(list, (a) => a.group)) },
      { key: 'tag', label: t('agent.tag'), options: opts(distinct(list, (a) => a.tags)), match: (a, v) => (a.tags || []).includes(v) },
    ];
  }, [rows]);
  const batch = () => {
    preset.set({ agent_ids: [...selected] });
    window.location.hash = '#/commands';
  };
  const operator = can('operator');
  return html`
    <h1>${t('agents.title')}</h1>
    <${ErrorBox} error=${error} />
    <${DataTable} id="agents-table" caption=${t('agents.title')} rows=${rows} rowKey=${(a) => a.agent_id} filters=${filters}
      onRow=${(a) => { window.location.hash = agentHref(a.agent_id); }}
      selectable=${operator} selected=${selected} onSelect=${setSelected}
      toolbar=${operator && html`<button type="button" id="agents-batch" disabled=${selected.size === 0} onClick=${batch}>
        ${t('agents.command_selected', { n: selected.size })}</button>`}
      columns=${[
        { key: 'agent_id', label: t('agent.id'), render: (a) => html`<a href=${agentHref(a.agent_id)}>${a.agent_id}</a>` },
        { key: 'status', label: t('agent.status'), render: (a) => html`<${PresencePill} status=${a.status} />` },
        { key: 'site_id', label: t('agent.site'), render: (a) => html`<a href=${siteHref(a.site_id)}>${a.site_id}</a>` },
        { key: 'kind', label: t('agent.kind') },
        { key: 'hostname', label: t('agent.hostname') },
        { key: 'group', label: t('agent.group') },
        { key: 'tags', label: t('agent.tags'), value: (a) => (a.tags || []).join(' '), render: (a) => (a.tags || []).map((x) => html`<${Pill} key=${x}>${x}<//> `) },
        { key: 'version', label: t('agent.version') },
        { key: 'last_seen', label: t('agent.last_seen'), render: (a) => fmtAgo(a.last_seen) },
      ]} />`;
}
