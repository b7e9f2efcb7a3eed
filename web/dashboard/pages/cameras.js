// Cameras: per site and agent, each camera's status and health events, the latest snapshot, a new snapshot on
// request (operators). The agent page shows the same panel for its agent.
import { html, useState } from '../../common/html.js';
import { fmtAgo, fmtTime, t } from '../../common/i18n.js';
import { usePoll, useLoad } from '../../common/hooks.js';
import { DataTable } from '../../common/components/table.js';
import { toast } from '../../common/components/toast.js';
import { ErrorBox, Pill } from '../../common/components/misc.js';
import { api, can } from '../session.js';
import { agentHref } from '../format.js';

function cameraTone(state) {
  if (!state) return 'muted';
  if (state.error || state.healthy === false || state.status === 'error' || state.status === 'offline') return 'bad';
  if (state.recording || state.streaming || state.status === 'ok' || state.healthy) return 'ok';
  return 'muted';
}

export function AgentCameras({ agentId }) {
  const enc = encodeURIComponent(agentId);
  const status = usePoll(api, `/api/cctv/agents/${enc}/status`);
  const config = usePoll(api, `/api/cctv/agents/${enc}/cameras`);
  const events = usePoll(api, '/api/cctv/events', { agent_id: agentId, limit: 50 });
  const [snaps, setSnaps] = useState({});
  const configured = (config.data && (config.data.cameras || config.data)) || {};
  const states = (status.data && status.data.cameras) || {};
  const ids = [...new Set([...Object.keys(Array.isArray(configured) ? {} : configured), ...(Array.isArray(configured) ? configured.map((c) => c.camera_id || c.id) : []), ...Object.keys(states)])].filter(Boolean);
  const snapshot = async (cam) => {
    try {
      const answer = await api.post(`/api/cctv/agents/${enc}/cameras/${encodeURIComponent(cam)}/snapshot`, {});
      setSnaps((s) => ({ ...s, [cam]: { url: answer.get_url, at: Date.now() / 1000 } }));
      toast(t('cam.snapshot_requested', { camera: cam }), 'ok');
    } catch (err) {
      toast(err.message, 'error');
    }
  };
  const evs = (events.data && (events.data.events || events.data.items)) || [];
  return html`
    <section class="cameras" id="agent-cameras">
      <${ErrorBox} error=${status.error || config.error} />
      ${ids.length === 0 ? html`<p class="empty">${t('cam.none')}</p>` : html`<div class="grid">
        ${ids.map((cam) => {
          const st = states[cam] || {};
          const snap = snaps[cam];
          return html`<article class="card camera" key=${cam} data-camera=${cam}>
            <div class="row"><h3>${cam}</h3><${Pill} tone=${cameraTone(st)}>${st.status || (st.recording ? t('cam.recording') : t('cam.unknown'))}<//></div>
            <dl class="kv">
              <div><dt>${t('cam.recording')}</dt><dd>${st.recording ? t('app.yes') : t('app.no')}</dd></div>
              <div><dt>${t('cam.updated')}</dt><dd>${fmtAgo(st.updated_at || st.timestamp || (status.data && status.data.updated_at))}</dd></div>
              ${st.error && html`<div><dt>${t('cam.error')}</dt><dd>${st.error}</dd></div>`}
            </dl>
            ${snap && html`<figure class="snapshot"><img src=${snap.url} alt=${t('cam.snapshot_alt', { camera: cam })} loading="lazy" />
              <figcaption>${fmtTime(snap.at)} · <a href=${snap.url} target="_blank" rel="noopener">${t('cam.open_snapshot')}</a></figcaption></figure>`}
            ${can('operator') && html`<button type="button" class="snapshot-btn" onClick=${() => snapshot(cam)}>${t('cam.snapshot')}</button>`}
          </article>`;
        })}
      </div>`}
      <h3>${t('cam.events')}</h3>
      <${DataTable} id="camera-events" caption=${t('cam.events')} rows=${events.data ? evs : undefined} rowKey=${(e) => `${e.at || e.timestamp}-${e.camera_id}-${e.event || e.kind}`}
        initialSort=${{ key: 'at', dir: -1 }} empty=${t('cam.no_events')}
        columns=${[
          { key: 'at', label: t('cam.when'), value: (e) => e.at || e.timestamp, render: (e) => fmtTime(e.at || e.timestamp) },
          { key: 'camera_id', label: t('cam.camera') },
          { key: 'event', label: t('cam.event'), value: (e) => e.event || e.kind || e.type },
          { key: 'detail', label: t('cam.detail'), value: (e) => e.detail || e.message || '' },
        ]} />
    </section>`;
}

export function Cameras() {
  const sites = useLoad(() => api.all('/api/lms', 'sites'), []);
  const [site, setSite] = useState('');
  const agents = useLoad(() => (site ? api.all('/api/agents', 'agents', { site_id: site }) : Promise.resolve([])), [site]);
  const [agent, setAgent] = useState('');
  const siteList = sites.data || [];
  const agentList = agents.data || [];
  return html`
    <h1>${t('cam.title')}</h1>
    <${ErrorBox} error=${sites.error || agents.error} />
    <div class="row pickers">
      <label class="field"><span>${t('agent.site')}</span>
        <select id="cam-site" value=${site} onChange=${(e) => { setSite(e.target.value); setAgent(''); }}>
          <option value="">${t('cam.pick_site')}</option>
          ${siteList.map((s) => html`<option value=${s.site_id}>${s.name || s.site_id}</option>`)}
        </select></label>
      <label class="field"><span>${t('agent.id')}</span>
        <select id="cam-agent" value=${agent} disabled=${!site} onChange=${(e) => setAgent(e.target.value)}>
          <option value="">${t('cam.pick_agent')}</option>
          ${agentList.map((a) => html`<option value=${a.agent_id}>${a.agent_id}${a.hostname ? ` (${a.hostname})` : ''}</option>`)}
        </select></label>
      ${agent && html`<a href=${agentHref(agent)}>${t('cam.open_agent')}</a>`}
    </div>
    ${agent ? html`<${AgentCameras} key=${agent} agentId=${agent} />` : html`<p class="empty">${t('cam.pick_help')}</p>`}`;
}
