// Events and the command log: what the agents reported (GET /api/events with its filters: agent, kind, severity,
// since) and the commands run on them (GET /api/commands?agent=&limit=); new events and finished commands arrive
// by push while the page is open.
import { html, useState } from '../../common/html.js';
import { fmtNumber, fmtTime, t } from '../../common/i18n.js';
import { DataTable } from '../../common/components/table.js';
import { ErrorBox, Pill } from '../../common/components/misc.js';
import { Form } from '../../common/components/form.js';
import { useLoad } from '../../common/hooks.js';
import { api } from '../session.js';
import { useLive } from '../live.js';

const AGENT_ID = /^[A-Za-z0-9_-]{1,64}$/;
const KIND = /^[a-z0-9_.]{1,64}\*?$/;
const SEVERITIES = ['info', 'warning', 'error', 'critical'];
const SEVERITY = {
  info: () => ['muted', t('events.info')], warning: () => ['warn', t('events.warning')],
  error: () => ['bad', t('events.error')], critical: () => ['bad', t('events.critical')],
};
const severity = (s) => (SEVERITY[s] ? SEVERITY[s]() : ['muted', s]);
const STATUS = {
  pending: () => ['warn', t('events.pending')], queued: () => ['warn', t('events.queued')],
  delivered: () => ['warn', t('events.delivered')], running: () => ['warn', t('events.running_state')],
  succeeded: () => ['ok', t('events.succeeded')], failed: () => ['bad', t('events.failed')],
  timed_out: () => ['bad', t('events.timed_out')], expired: () => ['bad', t('events.expired')],
  rejected: () => ['bad', t('events.rejected')],
};
const status = (s) => (STATUS[s] ? STATUS[s]() : ['muted', s]);
const SINCE = [['', () => t('events.since_any')], ['1', () => t('events.since_hour')], ['24', () => t('events.since_day')], ['168', () => t('events.since_week')]];

// whether a pushed event passes the filters the list was read with
function matches(f, agentId, e) {
  if (f.agent && f.agent !== agentId) return false;
  if (f.kind && !(f.kind.endsWith('*') || f.kind.endsWith('.') ? e.kind.startsWith(f.kind.replace(/\*$/, '')) : e.kind === f.kind)) return false;
  if (f.severity && SEVERITIES.indexOf(e.severity || 'info') < SEVERITIES.indexOf(f.severity)) return false;
  return !(f.since && e.timestamp < f.since);
}

const agentLink = (id) => html`<a href=${`#/agents/${encodeURIComponent(id)}`}>${id}</a>`;

function EventLog() {
  const [filter, setFilter] = useState({ limit: 200 });
  const [pushed, setPushed] = useState([]);
  const list = useLoad(async () => {
    const answer = await api.get('/api/events', filter);
    setPushed([]);
    return answer;
  }, [JSON.stringify(filter)]);
  useLive((kind, data) => {
    if ((kind === 'event' || kind === 'camera') && data.event && matches(filter, data.agent_id, data.event)) {
      const e = data.event;
      setPushed((p) => [{ ...e, id: `live-${data.agent_id}-${e.kind}-${e.timestamp}`, agent_id: data.agent_id, live: true }, ...p].slice(0, 500));
    }
    if (kind === 'resync') list.reload();
  }, [JSON.stringify(filter)]);
  const rows = list.data ? [...pushed, ...list.data.events] : undefined;
  return html`
    <section aria-labelledby="events-h">
      <h2 id="events-h">${t('events.events')}</h2>
      <${Form} id="event-filter" compact submitLabel=${t('events.apply')} fields=${[
        { name: 'agent', label: t('events.agent'), type: 'text', maxLength: 64, pattern: AGENT_ID, patternMessage: 'form.bad_id' },
        { name: 'kind', label: t('events.kind'), type: 'text', maxLength: 65, pattern: KIND, patternMessage: 'events.kind_rule', placeholder: 'cctv.*' },
        { name: 'severity', label: t('events.severity'), type: 'select', initial: '',
          options: [{ value: '', label: t('events.any') }, ...SEVERITIES.map((s) => ({ value: s, label: SEVERITY[s]()[1] }))] },
        { name: 'since', label: t('events.since'), type: 'select', initial: '', options: SINCE.map(([v, l]) => ({ value: v, label: l() })) },
      ]} onSubmit=${async (v) => {
        setFilter({ agent: v.agent, kind: v.kind, severity: v.severity || null, since: v.since ? Math.floor(Date.now() / 1000 - Number(v.since) * 3600) : null, limit: 200 });
      }} />
      <${ErrorBox} error=${list.error} />
      <${DataTable} id="events" caption=${t('events.events')} rows=${rows} rowKey=${(e) => String(e.id)}
        initialSort=${{ key: 'timestamp', dir: -1 }} empty=${t('events.none')} columns=${[
          { key: 'timestamp', label: t('command.when'), value: (e) => e.timestamp, render: (e) => html`${fmtTime(e.timestamp)}${e.live ? html` <${Pill} tone="ok">${t('events.new')}<//>` : ''}` },
          { key: 'agent_id', label: t('events.agent'), render: (e) => agentLink(e.agent_id) },
          { key: 'kind', label: t('events.kind') },
          { key: 'severity', label: t('events.severity'), value: (e) => SEVERITIES.indexOf(e.severity), render: (e) => html`<${Pill} tone=${severity(e.severity)[0]}>${severity(e.severity)[1]}<//>` },
          { key: 'message', label: t('events.message'), render: (e) => html`${e.message || ''}${e.data && Object.keys(e.data).length ? html` <code>${JSON.stringify(e.data).slice(0, 200)}</code>` : ''}` },
        ]} />
    </section>`;
}

function CommandLog() {
  const [filter, setFilter] = useState({ limit: 100 });
  const [running, setRunning] = useState({});
  const log = useLoad(() => api.get('/api/commands', filter), [JSON.stringify(filter)]);
  useLive((kind, data) => {
    if (kind === 'resync') log.reload();
    if (kind !== 'command' || (filter.agent && data.agent_id !== filter.agent)) return;
    if (data.command) {
      setRunning((r) => { const n = { ...r }; delete n[data.request_id]; return n; });
      log.reload();
    } else {
      setRunning((r) => ({ ...r, [data.request_id]: data }));
    }
  }, [JSON.stringify(filter)]);
  const now = Object.values(running);
  return html`
    <section aria-labelledby="commands-h">
      <h2 id="commands-h">${t('events.commands')}</h2>
      <${Form} id="command-filter" compact submitLabel=${t('events.apply')} fields=${[
        { name: 'agent', label: t('events.agent'), type: 'text', maxLength: 64, pattern: AGENT_ID, patternMessage: 'form.bad_id' },
        { name: 'limit', label: t('events.limit'), type: 'int', min: 1, max: 1000, initial: '100', required: true },
      ]} onSubmit=${async (v) => setFilter({ agent: v.agent, limit: v.limit })} />
      ${now.length > 0 && html`<p id="commands-running">${t('events.running', { n: now.length })}
        ${now.map((r) => html` <${Pill} tone="warn" key=${r.request_id}>${r.agent_id} · ${status(r.status)[1]}<//>`)}</p>`}
      <${ErrorBox} error=${log.error} />
      <${DataTable} id="commands" caption=${t('events.commands')} rows=${log.data && log.data.commands} rowKey=${(r) => String(r.id)}
        initialSort=${{ key: 'executed_at', dir: -1 }} empty=${t('events.no_commands')} columns=${[
          { key: 'executed_at', label: t('command.when'), value: (r) => r.executed_at, render: (r) => fmtTime(r.executed_at) },
          { key: 'client_uuid', label: t('events.agent'), render: (r) => agentLink(r.client_uuid) },
          { key: 'command', label: t('command.command') },
          { key: 'status', label: t('command.state'), value: (r) => status(r.status)[1], render: (r) => html`<${Pill} tone=${status(r.status)[0]}>${status(r.status)[1]}<//>` },
          { key: 'source', label: t('events.source'), value: (r) => r.source || '' },
          { key: 'duration_ms', label: t('events.duration'), value: (r) => r.duration_ms, render: (r) => (r.duration_ms === null || r.duration_ms === undefined ? '—' : `${fmtNumber(r.duration_ms, { maximumFractionDigits: 0 })} ms`) },
          { key: 'response', label: t('command.output'), sortable: false, render: (r) => html`<code>${(r.error_code ? `${r.error_code} ` : '') + JSON.stringify(r.response ?? null).slice(0, 200)}</code>` },
        ]} />
    </section>`;
}

export function Events() {
  return html`<h1>${t('events.title')}</h1><${EventLog} /><${CommandLog} />`;
}
