// Fleet: rooms (groups) as tiles with how many are online, the agents table (search, sort, filters by kind,
// status and room, multi-select) and batch commands on the selection or on a whole room (the LMS resolves the
// group when the batch runs); presence changes arrive by push.
import { html, useEffect, useMemo, useState } from '../../common/html.js';
import { fmtAgo, t } from '../../common/i18n.js';
import { DataTable } from '../../common/components/table.js';
import { ErrorBox, Pill } from '../../common/components/misc.js';
import { toast } from '../../common/components/toast.js';
import { useLoad, usePoll, useStore } from '../../common/hooks.js';
import { api, can, postForAnswer } from '../session.js';
import { liveMode, useLive } from '../live.js';
import { CommandForm, loadCatalogue, offered } from '../commands.js';
import { kindLabel, statusLabel } from '../format.js';

export function statusPill(agent) {
  const online = agent.status === 'online';
  return html`<${Pill} tone=${online ? 'ok' : 'bad'}>${statusLabel(online)}<//>`;
}

export function Fleet() {
  const mode = useStore(liveMode);
  // the first load, then: pushed changes while the push channel is up, polling while it is not
  const first = useLoad(() => api.get('/api/clients/'), []);
  const polled = usePoll(api, mode === 'poll' ? '/api/clients/' : null);
  const groups = useLoad(() => api.get('/api/groups'), []);
  const catalogue = useLoad(loadCatalogue, []);
  const [changed, setChanged] = useState({});
  const [selected, setSelected] = useState(new Set());
  const [room, setRoom] = useState(null); // a room chosen as the batch's target (its members selected)
  const [results, setResults] = useState(null);

  const base = (polled.data && polled.data.clients) || (first.data && first.data.clients);
  // a fresh read is newer than every change pushed before it
  useEffect(() => setChanged({}), [polled.data, first.data]);
  useLive((kind, data) => {
    if (kind === 'presence' && data.agent) setChanged((c) => ({ ...c, [data.agent.uuid]: data.agent }));
    if (kind === 'resync') first.reload();
  }, []);
  const agents = useMemo(() => {
    if (!base) return undefined;
    const byId = new Map(base.map((a) => [a.uuid, a]));
    for (const [id, a] of Object.entries(changed)) byId.set(id, { ...byId.get(id), ...a });
    return [...byId.values()];
  }, [base, changed]);
  const rooms = (groups.data && groups.data.groups) || [];
  const roomOf = useMemo(() => {
    const m = new Map();
    for (const g of rooms) for (const a of g.agents) m.set(a, [...(m.get(a) || []), g.name]);
    return m;
  }, [rooms]);

  const chosen = (agents || []).filter((a) => selected.has(a.uuid));
  const pick = (ids) => {
    setRoom(null);
    setSelected(ids);
  };
  const pickRoom = (g) => {
    setSelected(new Set(g.agents));
    setRoom(g.name);
    document.getElementById('batch-h').scrollIntoView({ block: 'nearest' });
  };
  const runBatch = async (command, params) => {
    const target = room ? { group: room } : { ids: chosen.map((a) => a.uuid) };
    const answer = await postForAnswer('/api/commands/batch', { command, params, target });
    const data = answer.data;
    setResults(Object.entries(data.results || {}).map(([id, r]) => ({ ...r, agent_id: id })));
    toast(t('batch.done', { ok: data.succeeded ?? 0, failed: data.failed ?? 0 }), data.failed ? 'error' : 'info');
    return null;
  };

  return html`
    <h1>${t('fleet.title')}</h1>
    <${ErrorBox} error=${first.error || groups.error} />
    <section aria-labelledby="rooms-h">
      <h2 id="rooms-h">${t('fleet.rooms')}</h2>
      <div class="tiles" id="rooms">
        ${rooms.length === 0 && html`<p class="muted">${t('fleet.no_rooms')}</p>`}
        ${rooms.map((g) => {
          const members = (agents || []).filter((a) => g.agents.includes(a.uuid));
          const online = members.filter((a) => a.status === 'online').length;
          return html`<div class="tile" key=${g.name} data-room=${g.name}>
            <div class="tile-name">${g.name}</div>
            <div class="tile-count"><span class="ok">${online}</span> / ${members.length} ${t('fleet.online')}</div>
            ${g.description && html`<div class="muted">${g.description}</div>`}
            ${can('operator') && html`<button type="button" class="tile-action" data-action="batch-room"
              disabled=${g.agents.length === 0} onClick=${() => pickRoom(g)}>${t('fleet.batch_room')}</button>`}
          </div>`;
        })}
      </div>
    </section>
    <section aria-labelledby="agents-h">
      <h2 id="agents-h">${t('fleet.agents')}</h2>
      <${DataTable} id="agents" caption=${t('fleet.agents')} rows=${agents} rowKey=${(a) => a.uuid}
        selectable=${can('operator')} selected=${selected} onSelect=${pick}
        onRow=${(a) => { window.location.hash = `#/agents/${encodeURIComponent(a.uuid)}`; }}
        columns=${[
          { key: 'uuid', label: t('agent.id'), render: (a) => html`<a href=${`#/agents/${encodeURIComponent(a.uuid)}`}>${a.uuid}</a>` },
          { key: 'kind', label: t('agent.kind'), value: (a) => kindLabel(a.kind) },
          { key: 'status', label: t('agent.status'), render: statusPill },
          { key: 'room', label: t('agent.room'), value: (a) => (roomOf.get(a.uuid) || []).join(', ') },
          { key: 'hostname', label: t('agent.hostname') },
          { key: 'version', label: t('agent.version') },
          { key: 'last_seen', label: t('agent.last_seen'), value: (a) => a.last_seen, render: (a) => fmtAgo(a.last_seen) },
        ]}
        filters=${[
          { key: 'kind', label: t('agent.kind'), options: [{ value: 'agent', label: t('kind.agent') }, { value: 'legacy', label: t('kind.legacy') }] },
          { key: 'status', label: t('agent.status'), options: [{ value: 'online', label: t('status.online') }, { value: 'offline', label: t('status.offline') }] },
          { key: 'room', label: t('agent.room'), options: rooms.map((g) => ({ value: g.name, label: g.name })),
            match: (a, v) => (roomOf.get(a.uuid) || []).includes(v) },
        ]} />
    </section>
    ${can('operator') && html`
      <section aria-labelledby="batch-h" id="batch">
        <h2 id="batch-h" tabindex="-1">${room ? t('batch.title_room', { room, n: chosen.length }) : t('batch.title', { n: chosen.length })}</h2>
        ${chosen.length === 0 ? html`<p class="muted">${t('batch.select')}</p>` : catalogue.data && html`
          <${CommandForm} id="batch-command" commands=${offered(catalogue.data, chosen.map((a) => a.kind))} onRun=${runBatch} />`}
        ${results && html`<table class="results" id="batch-results"><caption>${t('batch.results')}</caption>
          <thead><tr><th>${t('agent.id')}</th><th>${t('command.state')}</th><th>${t('command.output')}</th></tr></thead>
          <tbody>${results.map((r) => html`<tr key=${r.agent_id} data-agent=${r.agent_id}>
            <td>${r.agent_id}</td><td>${r.status}</td>
            <td><code>${r.error || JSON.stringify(r.data ?? null).slice(0, 300)}</code></td></tr>`)}</tbody></table>`}
      </section>`}`;
}
