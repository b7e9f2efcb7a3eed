// Commands: send one command to one agent or a batch (ids, a site, a group, a tag), watch the live per-agent
// results (state, exit code, output), re-run it on the agents where it failed. exec is offered to admins only,
// after a confirmation. Viewers can open a command by its id and read its results.
import { html, useEffect, useState } from '../../common/html.js';
import { fmtTime, t } from '../../common/i18n.js';
import { createStore } from '../../common/store.js';
import { Poller } from '../../common/poller.js';
import { DataTable } from '../../common/components/table.js';
import { Form } from '../../common/components/form.js';
import { confirmDialog } from '../../common/components/dialog.js';
import { toast } from '../../common/components/toast.js';
import { ErrorBox, KeyValues } from '../../common/components/misc.js';
import { api, can } from '../session.js';
import { agentHref, CommandPill, FINISHED, LABEL } from '../format.js';

// a batch chosen elsewhere (the Agents page's selection, an agent's page) to prefill the form
export const preset = createStore(null);

// commands offered in the picker (shared/commands.py has them all; tests/unit/web checks these exist there)
export const COMMANDS = [
  'ping', 'get_info', 'get_metrics', 'get_processes', 'get_logs', 'get_setting', 'set_setting',
  'update_settings_batch', 'refresh_state', 'get_courses', 'get_schedule', 'sync_classtop_data',
  'cctv_get_all_states', 'cctv_get_config', 'cctv_get_storage_info', 'cctv_detect_cameras', 'exec',
];
export const ADMIN_ONLY = new Set(['exec']);

const RECENT = 'ct.recent-commands';
function recent() {
  try {
    return JSON.parse(window.sessionStorage.getItem(RECENT) || '[]');
  } catch {
    return [];
  }
}
function remember(cmd) {
  const list = [{ command_id: cmd.command_id, command: cmd.command, at: cmd.created_at, targets: cmd.targets.length },
    ...recent().filter((c) => c.command_id !== cmd.command_id)].slice(0, 20);
  window.sessionStorage.setItem(RECENT, JSON.stringify(list));
}

function output(r) {
  const d = r.data;
  const parts = [];
  if (d !== null && d !== undefined) {
    if (typeof d === 'object' && ('stdout' in d || 'stderr' in d)) parts.push(d.stdout, d.stderr);
    else parts.push(JSON.stringify(d, null, 1));
  }
  if (r.error) parts.push(r.error);
  return parts.filter(Boolean).join('\n');
}

export async function sendCommand(body) {
  if (body.command === 'exec') {
    const ok = await confirmDialog({
      title: t('cmd.exec_title'), message: t('cmd.exec_message'), confirmLabel: t('cmd.exec_confirm'), danger: true,
      detail: JSON.stringify(body.params, null, 1),
    });
    if (!ok) return null;
  }
  const cmd = await api.post('/api/commands', body);
  remember(cmd);
  return cmd;
}

// The live per-agent results of one command (polled until every agent finished).
export function CommandResults({ commandId, onRerun }) {
  const [cmd, setCmd] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    const p = new Poller({
      poll: ({ etag }) => api.request('GET', `/api/commands/${encodeURIComponent(commandId)}`, { etag }),
      onData: (c) => {
        setCmd(c);
        setError(null);
        if (FINISHED.has(c.status) && Object.values(c.results || {}).every((r) => FINISHED.has(r.status))) p.stop();
      },
      onError: setError,
    });
    p.start();
    return () => p.stop();
  }, [commandId]);
  if (!cmd) return html`<${ErrorBox} error=${error} /><p class="muted">${t('app.loading')}</p>`;
  const rows = Object.entries(cmd.results || {}).map(([agent, r]) => ({ agent, ...r }));
  const failed = rows.filter((r) => ['failed', 'timed_out', 'expired'].includes(r.status)).map((r) => r.agent);
  const rerun = async () => {
    if (cmd.command === 'exec' && !can('admin')) return;
    try {
      const again = await sendCommand({ agent_ids: failed, command: cmd.command, params: cmd.params, timeout_s: cmd.timeout_s });
      if (again) onRerun(again.command_id);
    } catch (err) {
      toast(err.message, 'error');
    }
  };
  const mayRerun = can('operator') && (cmd.command !== 'exec' || can('admin'));
  return html`
    <section class="card" id="command-results" data-command=${cmd.command_id} data-status=${cmd.status}>
      <div class="row"><h2>${t('cmd.results_title', { command: cmd.command })}</h2><${CommandPill} state=${cmd.status} />
        ${mayRerun && failed.length > 0 && html`<button type="button" id="rerun-failed" onClick=${rerun}>${t('cmd.rerun', { n: failed.length })}</button>`}
      </div>
      <${ErrorBox} error=${error} />
      <${KeyValues} items=${[
        [t('cmd.id'), cmd.command_id], [t('cmd.created_by'), cmd.created_by], [t('cmd.created_at'), fmtTime(cmd.created_at)],
        [t('cmd.timeout'), cmd.timeout_s ? `${cmd.timeout_s} s` : '—'], [t('cmd.params'), JSON.stringify(cmd.params)],
      ]} />
      <${DataTable} id="results-table" caption=${t('cmd.results_title', { command: cmd.command })} rows=${rows} rowKey=${(r) => r.agent}
        columns=${[
          { key: 'agent', label: t('agent.id'), render: (r) => html`<a href=${agentHref(r.agent)}>${r.agent}</a>` },
          { key: 'site_id', label: t('agent.site') },
          { key: 'status', label: t('cmd.state'), render: (r) => html`<${CommandPill} state=${r.status} />` },
          { key: 'exit_code', label: t('cmd.exit_code'), value: (r) => (r.data && typeof r.data === 'object' && 'exit_code' in r.data ? r.data.exit_code : null) },
          { key: 'output', label: t('cmd.output'), sortable: false, value: output, render: (r) => html`<pre class="output">${output(r)}</pre>` },
          { key: 'updated_at', label: t('cmd.updated'), render: (r) => fmtTime(r.updated_at) },
        ]} />
    </section>`;
}

function SendForm({ onSent }) {
  const p = preset.get();
  const admin = can('admin');
  const offered = COMMANDS.filter((c) => admin || !ADMIN_ONLY.has(c));
  const kinds = [
    { value: 'agent_ids', label: t('cmd.target.agents') }, { value: 'site_id', label: t('cmd.target.site') },
    { value: 'group', label: t('cmd.target.group') }, { value: 'tag', label: t('cmd.target.tag') },
  ];
  const fields = [
    { name: 'kind', label: t('cmd.target_kind'), type: 'select', options: kinds, initial: 'agent_ids' },
    { name: 'target', label: t('cmd.target'), type: 'list', required: true, maxLength: 20000, maxItems: 5000, pattern: LABEL,
      patternMessage: 'cmd.bad_target', initial: p && p.agent_ids ? p.agent_ids.join(', ') : p && p.site_id ? p.site_id : '', hint: t('cmd.target_hint') },
    { name: 'command', label: t('cmd.command'), type: 'select', options: offered.map((c) => ({ value: c, label: c })), initial: 'ping' },
    { name: 'params', label: t('cmd.params'), type: 'json', maxLength: 65536, placeholder: '{"cmd": "hostname"}', hint: t('cmd.params_hint') },
    { name: 'timeout_s', label: t('cmd.timeout'), type: 'int', min: 1, max: 3600 },
  ];
  useEffect(() => () => preset.set(null), []);
  return html`<section class="card" id="send-command">
    <h2>${t('cmd.send_title')}</h2>
    <${Form} id="command-form" fields=${fields} submitLabel=${t('cmd.send')} onSubmit=${async (v) => {
      if (v.kind !== 'agent_ids' && v.target.length !== 1) throw new Error(t('cmd.one_target'));
      const body = { command: v.command, params: v.params || {} };
      body[v.kind] = v.kind === 'agent_ids' ? v.target : v.target[0];
      if (v.timeout_s) body.timeout_s = v.timeout_s;
      const cmd = await sendCommand(body);
      if (cmd) onSent(cmd.command_id);
    }} />
  </section>`;
}

export function Commands({ id }) {
  const [current, setCurrent] = useState(id || null);
  const open = (cid) => {
    setCurrent(cid);
    window.history.replaceState(null, '', `#/commands/${encodeURIComponent(cid)}`);
  };
  const list = recent();
  return html`
    <h1>${t('cmd.title')}</h1>
    ${can('operator') && html`<${SendForm} onSent=${open} />`}
    <section class="card">
      <h2>${t('cmd.open_title')}</h2>
      <${Form} id="open-command" compact=${true} submitLabel=${t('cmd.open')} fields=${[
        { name: 'command_id', label: t('cmd.id'), required: true, maxLength: 64, pattern: /^[A-Za-z0-9_-]{1,64}$/, patternMessage: 'cmd.bad_id' },
      ]} onSubmit=${async (v) => open(v.command_id)} />
      ${list.length > 0 && html`<h3>${t('cmd.recent')}</h3><ul id="recent-commands">
        ${list.map((c) => html`<li key=${c.command_id}><button type="button" class="link" onClick=${() => open(c.command_id)}>${c.command}</button>
          <span class="muted"> ${fmtTime(c.at)} · ${t('cmd.n_targets', { n: c.targets })}</span></li>`)}</ul>`}
    </section>
    ${current && html`<${CommandResults} key=${current} commandId=${current} onRerun=${open} />`}`;
}
