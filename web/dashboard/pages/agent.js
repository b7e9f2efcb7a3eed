// One agent: facts and inventory, metric charts from the rollups (hour/day/week), settings (desired beside
// reported, edited by operators), the ClassTop timetable as a week grid, cameras, and its command history.
import { html, useMemo, useState } from '../../common/html.js';
import { fmtAgo, fmtTime, lang, t } from '../../common/i18n.js';
import { usePoll, usePollWith } from '../../common/hooks.js';
import { isMissingRoute } from '../../common/api.js';
import { DataTable } from '../../common/components/table.js';
import { Chart, fmtRate, RangePicker } from '../../common/components/chart.js';
import { WeekGrid } from '../../common/components/weekgrid.js';
import { Form } from '../../common/components/form.js';
import { confirmDialog } from '../../common/components/dialog.js';
import { toast } from '../../common/components/toast.js';
import { ErrorBox, KeyValues, Pill, Tabs } from '../../common/components/misc.js';
import { api, can } from '../session.js';
import { approvalLabel, CommandPill, PresencePill, siteHref } from '../format.js';
import { preset, sendCommand } from './commands.js';
import { AgentCameras } from './cameras.js';

const SETTING_KEY = /^[A-Za-z0-9_.-]{1,128}$/;

function Inventory({ agentId, history }) {
  const info = (history || []).find((c) => c.command === 'get_info' && c.result && c.result.success);
  const refresh = async () => {
    try {
      await sendCommand({ agent_id: agentId, command: 'get_info' });
      toast(t('agent.inventory_requested'), 'ok');
    } catch (err) {
      toast(err.message, 'error');
    }
  };
  const d = info ? info.result.data || {} : null;
  return html`<section class="card" id="inventory">
    <div class="row"><h2>${t('agent.inventory')}</h2>
      ${can('operator') && html`<button type="button" id="inventory-refresh" onClick=${refresh}>${t('agent.inventory_refresh')}</button>`}</div>
    ${d ? html`<p class="muted">${t('agent.inventory_at', { at: fmtTime(info.created_at) })}</p>
      <${KeyValues} items=${Object.entries(d).filter(([, v]) => v === null || typeof v !== 'object').map(([k, v]) => [k, String(v)])} />
      ${Object.entries(d).filter(([, v]) => v && typeof v === 'object').map(([k, v]) => html`<details key=${k}><summary>${k}</summary><pre>${JSON.stringify(v, null, 1)}</pre></details>`)}`
      : html`<p class="empty">${t('agent.no_inventory')}</p>`}
  </section>`;
}

// chart points (GET /api/agents/{id}/metrics: {range, since, until, step_s, points}) -> chart columns; a missing
// step between two points becomes a null so the line breaks instead of bridging the gap, and the x axis spans the
// whole range (empty ends) rather than only the points
function columns(series) {
  const points = [...((series && series.points) || [])].sort((a, b) => a.start - b.start);
  const rows = [];
  if (points.length) {
    const step = series.step_s || 300;
    if (points[0].start > series.since) rows.push({ start: series.since });
    for (const p of points) {
      const last = rows[rows.length - 1];
      if (last && p.start - last.start > step) rows.push({ start: last.start + step });
      rows.push(p);
    }
    const end = rows[rows.length - 1].start + step;
    if (end < series.until) rows.push({ start: end }, { start: series.until });
  }
  // a figure the site did not send (an older site, no sample had it) is null: a gap, never a zero
  const line = (key, label, unit = ' %') => ({ label, values: rows.map((r) => r[key] ?? null), unit });
  return {
    x: rows.map((r) => r.start),
    cpu: [line('cpu_min', t('metrics.cpu_min')), line('cpu_avg', t('metrics.cpu_avg')), line('cpu_max', t('metrics.cpu_max'))],
    mem: [line('mem_min', t('metrics.mem_min')), line('mem_avg', t('metrics.mem_avg')), line('mem_max', t('metrics.mem_max'))],
    disk: [line('disk_min', t('metrics.disk_min')), line('disk_avg', t('metrics.disk_avg')), line('disk_max', t('metrics.disk_max'))],
    net: [line('net_rx_avg', t('metrics.rx_avg'), ''), line('net_rx_max', t('metrics.rx_max'), ''),
      line('net_tx_avg', t('metrics.tx_avg'), ''), line('net_tx_max', t('metrics.tx_max'), '')],
  };
}

const STEP_LABEL = { 300: () => t('metrics.step_5m'), 900: () => t('metrics.step_15m'), 3600: () => t('metrics.step_1h') };

function Metrics({ agentId }) {
  const [range, setRange] = useState('hour');
  const [missing, setMissing] = useState(false);
  const poll = async ({ etag }) => {
    try {
      return await api.request('GET', `/api/agents/${encodeURIComponent(agentId)}/metrics`, { params: { range }, etag });
    } catch (err) {
      if (isMissingRoute(err)) {
        setMissing(true);
        return { data: null };
      }
      throw err;
    }
  };
  const { data, error } = usePollWith(poll, `metrics/${agentId}/${range}`);
  const cols = useMemo(() => columns(data), [data, lang.get()]); // the legend's labels follow the language
  const count = ((data && data.points) || []).length;
  const step = data && STEP_LABEL[data.step_s];
  return html`<section id="metrics" data-range=${range} data-points=${data ? count : ''} data-until=${data ? data.until : ''}>
    <div class="row"><h2>${t('metrics.title')}</h2><${RangePicker} id="metrics-range" value=${range} onChange=${setRange} /></div>
    <${ErrorBox} error=${error} />
    ${missing && html`<p class="note" id="metrics-missing">${t('metrics.unavailable')}</p>`}
    ${data && html`<p class="muted" id="metrics-note">${t('metrics.note', { step: step ? step() : `${data.step_s} s`, count })}</p>`}
    <div class="grid two">
      <${Chart} id="chart-cpu" title=${t('metrics.cpu')} x=${cols.x} series=${cols.cpu} yMax=${100} range=${range} />
      <${Chart} id="chart-mem" title=${t('metrics.mem')} x=${cols.x} series=${cols.mem} yMax=${100} range=${range} />
      <${Chart} id="chart-disk" title=${t('metrics.disk')} x=${cols.x} series=${cols.disk} yMax=${100} range=${range} />
      <${Chart} id="chart-net" title=${t('metrics.net')} x=${cols.x} series=${cols.net} format=${fmtRate} range=${range} />
    </div>
  </section>`;
}

function Settings({ agentId }) {
  const path = `/api/agents/${encodeURIComponent(agentId)}/settings`;
  const { data, error, refresh } = usePoll(api, path);
  const s = data || { desired: {}, reported: {}, pending: {} };
  const keys = [...new Set([...Object.keys(s.desired || {}), ...Object.keys(s.reported || {})])].sort();
  const rows = keys.map((k) => ({ key: k, desired: (s.desired || {})[k], reported: (s.reported || {})[k], pending: k in (s.pending || {}) }));
  const put = async (settings) => {
    await api.put(path, { settings });
    refresh();
  };
  const remove = async (key) => {
    if (!(await confirmDialog({ title: t('settings.remove_title', { key }), message: t('settings.remove_message'), confirmLabel: t('settings.remove') }))) return;
    try {
      await put({ [key]: null });
      toast(t('settings.removed', { key }), 'ok');
    } catch (err) {
      toast(err.message, 'error');
    }
  };
  const operator = can('operator');
  return html`<section id="settings">
    <h2>${t('settings.title')}</h2>
    <${ErrorBox} error=${error} />
    <${DataTable} id="settings-table" caption=${t('settings.title')} rows=${data ? rows : undefined} rowKey=${(r) => r.key} empty=${t('settings.none')}
      columns=${[
        { key: 'key', label: t('settings.key') },
        { key: 'desired', label: t('settings.desired'), render: (r) => (r.desired === undefined ? '—' : html`<code>${String(r.desired)}</code>`) },
        { key: 'reported', label: t('settings.reported'), render: (r) => (r.reported === undefined ? '—' : html`<code>${String(r.reported)}</code>`) },
        { key: 'pending', label: t('settings.state'), value: (r) => (r.pending ? 1 : 0),
          render: (r) => (r.pending ? html`<${Pill} tone="warn">${t('settings.pending')}<//>` : html`<${Pill} tone="ok">${t('settings.in_sync')}<//>`) },
        ...(operator ? [{ key: 'actions', label: t('app.actions'), sortable: false, value: () => '',
          render: (r) => (r.desired !== undefined ? html`<button type="button" class="setting-remove" onClick=${() => remove(r.key)}>${t('settings.remove')}</button>` : '') }] : []),
      ]} />
    ${operator && html`<div class="card"><h3>${t('settings.edit')}</h3>
      <${Form} id="setting-form" compact=${true} submitLabel=${t('settings.save')} resetOnSuccess=${true} fields=${[
        { name: 'key', label: t('settings.key'), required: true, maxLength: 128, pattern: SETTING_KEY, patternMessage: 'settings.bad_key' },
        { name: 'value', label: t('settings.value'), required: true, maxLength: 4096 },
      ]} onSubmit=${async (v) => {
        await put({ [v.key]: v.value });
        toast(t('settings.saved', { key: v.key }), 'ok');
      }} /></div>`}
  </section>`;
}

function Timetable({ agentId }) {
  const { data, error } = usePoll(api, `/api/agents/${encodeURIComponent(agentId)}/snapshots`);
  const snap = ((data && data.snapshots) || []).find((x) => x.kind === 'classtop');
  const d = (snap && snap.data) || {};
  return html`<section id="timetable">
    <h2>${t('timetable.title')}</h2>
    <${ErrorBox} error=${error} />
    ${snap && html`<p class="muted">${t('timetable.updated', { at: fmtTime(snap.updated_at), courses: (d.courses || []).length })}</p>`}
    <${WeekGrid} id="weekgrid" courses=${d.courses || []} entries=${d.schedule_entries || d.schedule || []} />
  </section>`;
}

function History({ agentId, history, error }) {
  return html`<section id="history">
    <div class="row"><h2>${t('agent.history')}</h2>
      ${can('operator') && html`<button type="button" id="agent-command" onClick=${() => { preset.set({ agent_ids: [agentId] }); window.location.hash = '#/commands'; }}>${t('agent.send_command')}</button>`}</div>
    <${ErrorBox} error=${error} />
    <${DataTable} id="history-table" caption=${t('agent.history')} rows=${history} rowKey=${(c) => c.command_id}
      initialSort=${{ key: 'created_at', dir: -1 }} onRow=${(c) => { window.location.hash = `#/commands/${encodeURIComponent(c.command_id)}`; }}
      columns=${[
        { key: 'created_at', label: t('cmd.created_at'), render: (c) => fmtTime(c.created_at) },
        { key: 'command', label: t('cmd.command') },
        { key: 'status', label: t('cmd.state'), render: (c) => html`<${CommandPill} state=${(c.result && c.result.status) || c.status} />` },
        { key: 'created_by', label: t('cmd.created_by') },
        { key: 'targets', label: t('cmd.targets') },
      ]} />
  </section>`;
}

export function AgentDetail({ id }) {
  const enc = encodeURIComponent(id);
  const agent = usePoll(api, `/api/agents/${enc}`);
  const commands = usePoll(api, `/api/agents/${enc}/commands`, { limit: 100 });
  const [tab, setTab] = useState('overview');
  const a = agent.data;
  const history = commands.data ? commands.data.commands : undefined;
  const tabs = [
    { key: 'overview', label: t('agent.tab.overview') }, { key: 'metrics', label: t('agent.tab.metrics') },
    { key: 'settings', label: t('agent.tab.settings') }, { key: 'timetable', label: t('agent.tab.timetable') },
    { key: 'cameras', label: t('agent.tab.cameras') }, { key: 'history', label: t('agent.tab.history') },
  ];
  return html`
    <p><a href="#/agents">← ${t('agents.title')}</a></p>
    <div class="row page-head"><h1 id="agent-title">${id}</h1>${a && html`<${PresencePill} status=${a.status} />`}</div>
    <${ErrorBox} error=${agent.error} />
    ${a && html`<section class="card"><${KeyValues} id="agent-facts" items=${[
      [t('agent.site'), html`<a href=${siteHref(a.site_id)}>${a.site_id}</a>`], [t('agent.kind'), a.kind], [t('agent.hostname'), a.hostname],
      [t('agent.version'), a.version], [t('agent.last_seen'), `${fmtTime(a.last_seen)} (${fmtAgo(a.last_seen)})`],
      [t('agent.group'), a.group], [t('agent.tags'), (a.tags || []).join(', ') || '—'], [t('site.approval'), approvalLabel(a.approval)],
      [t('agent.config_version'), a.config_version],
    ]} /></section>`}
    <${Tabs} tabs=${tabs} active=${tab} onChange=${setTab} label=${t('agent.tabs')} />
    <div role="tabpanel" aria-labelledby=${`tab-${tab}`} id="agent-panel">
      ${tab === 'overview' && html`<${Inventory} agentId=${id} history=${history} />`}
      ${tab === 'metrics' && html`<${Metrics} agentId=${id} />`}
      ${tab === 'settings' && html`<${Settings} agentId=${id} />`}
      ${tab === 'timetable' && html`<${Timetable} agentId=${id} />`}
      ${tab === 'cameras' && html`<${AgentCameras} agentId=${id} />`}
      ${tab === 'history' && html`<${History} agentId=${id} history=${history} error=${commands.error} />`}
    </div>`;
}
