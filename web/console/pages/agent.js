// One agent: what it is, its metrics (history from the LMS, new samples by push), its settings with edit, a
// command picker offering only what its kind runs, and its command history.
import { html, useMemo, useState } from '../../common/html.js';
import { fmtAgo, fmtTime, t } from '../../common/i18n.js';
import { Chart, fmtRate, RANGES, RangePicker } from '../../common/components/chart.js';
import { ErrorBox, KeyValues } from '../../common/components/misc.js';
import { Form } from '../../common/components/form.js';
import { toast } from '../../common/components/toast.js';
import { useLoad } from '../../common/hooks.js';
import { api, can, postForAnswer } from '../session.js';
import { useLive } from '../live.js';
import { CommandForm, loadCatalogue, offered } from '../commands.js';
import { statusPill } from './fleet.js';
import { kindLabel } from '../format.js';

const path = (id) => `/api/clients/${encodeURIComponent(id)}`;

function worstDisk(sample) {
  const disks = sample.disks || [];
  return disks.length ? Math.max(...disks.map((d) => d.percent)) : null;
}

export function AgentDetail({ id }) {
  const [range, setRange] = useState('hour');
  const info = useLoad(() => api.get(path(id)), [id]);
  const history = useLoad(() => api.get(`${path(id)}/metrics`, { since: Date.now() / 1000 - RANGES[range], limit: 5000 }), [id, range]);
  const settings = useLoad(() => api.get(`/api/settings/${encodeURIComponent(id)}`), [id]);
  const log = useLoad(() => api.get('/api/commands', { agent: id, limit: 20 }), [id]);
  const catalogue = useLoad(loadCatalogue, []);
  const [pushed, setPushed] = useState([]);
  const [presence, setPresence] = useState(null);

  useLive((kind, data) => {
    if (data.agent_id !== id) return;
    if (kind === 'metrics' && data.sample) setPushed((p) => [...p.slice(-2000), data.sample]);
    if (kind === 'presence' && data.agent) setPresence(data.agent);
    if (kind === 'command' && data.command) log.reload();
  }, [id]);

  const agent = presence ? { ...(info.data || {}), ...presence } : info.data;
  const samples = useMemo(() => {
    const rows = [...((history.data && history.data.samples) || []), ...pushed];
    rows.sort((a, b) => a.timestamp - b.timestamp);
    return rows.filter((s) => s.timestamp >= Date.now() / 1000 - RANGES[range]);
  }, [history.data, pushed, range]);
  const x = samples.map((s) => s.timestamp);

  const runOne = async (command, params) => {
    const answer = await postForAnswer(`${path(id)}/command`, { command, params });
    toast(answer.success ? t('command.ok', { command }) : t('command.failed', { command }), answer.success ? 'info' : 'error');
    log.reload();
    return html`<pre id="command-output">${JSON.stringify(answer.data ?? answer.error ?? null, null, 2)}</pre>`;
  };

  if (info.error) return html`<${ErrorBox} error=${info.error} />`;
  if (!agent) return html`<p class="loading">${t('app.loading')}</p>`;
  const current = (settings.data && typeof settings.data === 'object') ? settings.data : {};
  return html`
    <p><a href="#/fleet">← ${t('nav.fleet')}</a></p>
    <h1 id="agent-title">${agent.uuid} <span id="agent-status">${statusPill(agent)}</span></h1>
    <${KeyValues} id="agent-info" items=${[
      [t('agent.kind'), kindLabel(agent.kind)], [t('agent.hostname'), agent.hostname], [t('agent.version'), agent.version],
      [t('agent.ip'), agent.ip_address], [t('agent.last_seen'), fmtAgo(agent.last_seen)],
      [t('agent.status_reason'), agent.status_reason], [t('agent.first_seen'), fmtTime(agent.first_seen)],
    ]} />
    <section aria-labelledby="metrics-h">
      <h2 id="metrics-h">${t('agent.metrics')}</h2>
      <${RangePicker} id="range" value=${range} onChange=${setRange} />
      <div class="charts">
        <${Chart} id="chart-cpu" title=${t('metric.cpu')} x=${x} range=${range} yMax=${100}
          series=${[{ label: t('metric.cpu'), values: samples.map((s) => s.cpu_percent), unit: '%' }]} />
        <${Chart} id="chart-memory" title=${t('metric.memory')} x=${x} range=${range} yMax=${100}
          series=${[{ label: t('metric.memory'), values: samples.map((s) => s.mem_percent), unit: '%' }]} />
        <${Chart} id="chart-disk" title=${t('metric.disk')} x=${x} range=${range} yMax=${100}
          series=${[{ label: t('metric.disk'), values: samples.map(worstDisk), unit: '%' }]} />
        <${Chart} id="chart-network" title=${t('metric.network')} x=${x} range=${range} format=${fmtRate}
          series=${[{ label: t('metric.rx'), values: samples.map((s) => s.net_rx_bps ?? null), unit: 'B/s' },
                    { label: t('metric.tx'), values: samples.map((s) => s.net_tx_bps ?? null), unit: 'B/s' }]} />
      </div>
    </section>
    <section aria-labelledby="settings-h">
      <h2 id="settings-h">${t('agent.settings')}</h2>
      <table class="kvtable" id="settings"><tbody>
        ${Object.entries(current).sort().map(([k, v]) => html`<tr key=${k} data-key=${k}><th>${k}</th><td>${v}</td></tr>`)}
      </tbody></table>
      ${can('operator') && html`<${Form} id="setting-edit" compact submitLabel=${t('settings.save')} fields=${[
        { name: 'key', label: t('settings.key'), type: 'text', required: true, maxLength: 128, pattern: /^[A-Za-z0-9_.-]{1,128}$/, patternMessage: 'settings.key_rule' },
        { name: 'value', label: t('settings.value'), type: 'text', required: true, maxLength: 8192 },
      ]} onSubmit=${async (v) => {
        await api.put(`/api/settings/${encodeURIComponent(id)}/${encodeURIComponent(v.key)}`, { value: v.value });
        toast(t('settings.saved', { key: v.key }));
        settings.reload();
      }} />`}
    </section>
    ${can('operator') && html`<section aria-labelledby="command-h">
      <h2 id="command-h">${t('agent.command')}</h2>
      ${catalogue.data && html`<${CommandForm} id="agent-command" commands=${offered(catalogue.data, [agent.kind])} onRun=${runOne} />`}
    </section>`}
    <section aria-labelledby="history-h">
      <h2 id="history-h">${t('agent.history')}</h2>
      <table class="results" id="command-history"><thead><tr>
        <th>${t('command.when')}</th><th>${t('command.command')}</th><th>${t('command.state')}</th><th>${t('command.output')}</th></tr></thead>
        <tbody>${((log.data && log.data.commands) || []).map((r) => html`<tr key=${r.id}>
          <td>${fmtTime(r.executed_at)}</td><td>${r.command}</td><td>${r.status}</td>
          <td><code>${JSON.stringify(r.response ?? null).slice(0, 200)}</code></td></tr>`)}</tbody></table>
    </section>`;
}
