// Cameras: a wall of live views per room, and one camera's recordings on a timeline with playback, seek and
// holds, its storage and retention limits. Watching is a permission of its own (accounts hold it or not): without
// it the page says so and shows no video. The LMS's optional notice ([console] camera_notice) comes first.
// Video is an <img> of the LMS's MJPEG routes (the session cookie goes with it; every view is audited with its
// duration when the <img> lets go of the stream).
import { html, useEffect, useMemo, useRef, useState } from '../../common/html.js';
import { fmtNumber, fmtTime, t } from '../../common/i18n.js';
import { DataTable } from '../../common/components/table.js';
import { ErrorBox, KeyValues, Pill } from '../../common/components/misc.js';
import { toast } from '../../common/components/toast.js';
import { useLoad, useStore } from '../../common/hooks.js';
import { createStore } from '../../common/store.js';
import { api, can, canWatch, me, postForAnswer } from '../session.js';
import { useLive } from '../live.js';
import { yesNo } from '../format.js';

// the notice is read once per page load (a reload shows it again)
const noticeRead = createStore(false);

const enc = encodeURIComponent;
const cctv = (agent) => `/api/cctv/${enc(agent)}`;
export const livePath = (agent, cam) => `${cctv(agent)}/cameras/${enc(cam)}/live`;
const camKey = (agent, cam) => `${agent}:${cam}`;

const STATES = {
  running: ['ok', () => t('camera.state.running')],
  starting: ['muted', () => t('camera.state.starting')],
  reconnecting: ['warn', () => t('camera.state.reconnecting')],
  stopped: ['bad', () => t('camera.state.stopped')],
};

function statePill(state) {
  const [tone, label] = STATES[state] || ['muted', () => state || '—'];
  return html`<${Pill} tone=${tone}>${label()}<//>`;
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return `${fmtNumber(v, { maximumFractionDigits: i ? 1 : 0 })} ${units[i]}`;
}

// "<cam>/<cam>_20261206-235900-123.mp4" -> epoch seconds (the agent names segments by their UTC start)
export function recordingStart(name) {
  const m = /_(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})-(\d{3})\.\w+$/.exec(name);
  if (!m) return null;
  const [y, mo, d, h, mi, s, ms] = m.slice(1).map(Number);
  return Date.UTC(y, mo - 1, d, h, mi, s, ms) / 1000;
}

// An MJPEG <img> that lets go of its stream when it leaves the page: Chromium keeps loading a removed image, so
// the source is cleared first (the LMS then ends the view and audits its duration).
function VideoImg(props) {
  const ref = useRef(null);
  useEffect(() => () => {
    if (ref.current) ref.current.src = 'data:,';
  }, [props.src]);
  return html`<img ref=${ref} ...${props} />`;
}

function Notice({ text }) {
  return html`<section class="card camera-notice" id="camera-notice" aria-labelledby="camera-notice-h">
    <h2 id="camera-notice-h">${t('cameras.notice_title')}</h2>
    <p class="notice-text">${text}</p>
    <button type="button" class="primary" id="camera-notice-ok" onClick=${() => noticeRead.set(true)}>${t('cameras.notice_ok')}</button>
  </section>`;
}

export function Cameras({ id }) {
  const session = useStore(me);
  const read = useStore(noticeRead);
  const notice = ((session && session.camera_notice) || '').trim();
  let body;
  if (!canWatch()) body = html`<p class="errorbox" role="status" id="cameras-denied">${t('cameras.denied')}</p>`;
  else if (notice && !read) body = html`<${Notice} text=${notice} />`;
  else if (id) body = html`<${CameraDetail} id=${id} />`;
  else body = html`<${Wall} />`;
  return html`${id && html`<p><a href="#/cameras">← ${t('nav.cameras')}</a></p>`}
    <h1>${t('cameras.title')}</h1>${body}`;
}

// every camera of the online agents, from each agent's camera states
async function loadCameras(agents) {
  const answers = await Promise.all(agents.map((a) => api.get(`${cctv(a.uuid)}/state`).then(
    (d) => [a, d], () => [a, null])));
  const cams = [];
  for (const [a, d] of answers) {
    for (const c of (d && d.cameras) || []) cams.push({ ...c, agent: a.uuid });
  }
  return cams;
}

// the newest health event of each camera from the site's stored events (newest first): a wall opened or refreshed
// after an event still shows it; pushed events take over from there
async function loadHealth() {
  const d = await api.get('/api/events', { kind: 'cctv.', limit: 500 });
  const newest = {};
  for (const e of (d && d.events) || []) {
    const key = camKey(e.agent_id, (e.data && e.data.camera_id) || '');
    if (!(key in newest)) newest[key] = e;
  }
  return newest;
}

const newer = (a, b) => (!a || (b && b.timestamp > a.timestamp) ? b : a);

function Wall() {
  const clients = useLoad(() => api.get('/api/clients/'), []);
  const groups = useLoad(() => api.get('/api/groups'), []);
  const agents = ((clients.data && clients.data.clients) || []).filter((a) => a.kind === 'agent' && a.status === 'online');
  const ids = agents.map((a) => a.uuid).sort().join(',');
  const cams = useLoad(() => (clients.data ? loadCameras(agents) : Promise.resolve(undefined)), [ids, !!clients.data]);
  const stored = useLoad(loadHealth, []);
  const [watching, setWatching] = useState(new Set());
  const [pushed, setPushed] = useState({});
  const reload = () => { cams.reload(); stored.reload(); };

  useLive((kind, data) => {
    if (kind === 'resync') reload();
    if (kind !== 'camera' || !data.event || !data.agent_id) return;
    const cam = (data.event.data && data.event.data.camera_id) || '';
    setPushed((h) => ({ ...h, [camKey(data.agent_id, cam)]: data.event }));
  }, []);
  const health = (key) => newer((stored.data || {})[key], pushed[key]);

  const rooms = useMemo(() => {
    const list = (groups.data && groups.data.groups) || [];
    const all = cams.data || [];
    const placed = new Set();
    const out = list.map((g) => {
      const members = all.filter((c) => g.agents.includes(c.agent));
      members.forEach((c) => placed.add(c));
      return { name: g.name, cams: members };
    }).filter((r) => r.cams.length);
    const rest = all.filter((c) => !placed.has(c));
    if (rest.length) out.push({ name: null, cams: rest });
    return out;
  }, [groups.data, cams.data]);

  const toggle = (keys, on) => setWatching((w) => {
    const next = new Set(w);
    for (const k of keys) (on ? next.add(k) : next.delete(k));
    return next;
  });

  if (clients.error || groups.error) return html`<${ErrorBox} error=${clients.error || groups.error} />`;
  if (cams.data === undefined) return html`<p class="loading">${t('app.loading')}</p>`;
  return html`
    <p class="muted">${t('cameras.wall_help')}</p>
    <button type="button" id="cameras-refresh" onClick=${reload}>${t('cameras.refresh')}</button>
    ${rooms.length === 0 && html`<p class="muted" id="cameras-none">${t('cameras.none')}</p>`}
    <div id="wall">
      ${rooms.map((r) => html`<section class="room" key=${r.name || '-'} data-room=${r.name || ''}
          aria-label=${r.name || t('cameras.no_room')}>
        <h2>${r.name || t('cameras.no_room')}
          <button type="button" class="watch-room" onClick=${() => toggle(r.cams.map((c) => camKey(c.agent, c.camera_id)), true)}>${t('cameras.watch_room')}</button></h2>
        <div class="camera-wall">
          ${r.cams.map((c) => {
            const key = camKey(c.agent, c.camera_id);
            return html`<${CameraTile} key=${key} cam=${c} event=${health(key)} watching=${watching.has(key)}
              onWatch=${(on) => toggle([key], on)} />`;
          })}
        </div>
      </section>`)}
    </div>`;
}

function CameraTile({ cam, event, watching, onWatch }) {
  const [busy, setBusy] = useState(false);
  const [streaming, setStreaming] = useState(!!cam.streaming);
  const [broken, setBroken] = useState(false);
  const canStart = can('operator');
  const start = async () => {
    if (streaming) { setBroken(false); onWatch(true); return; }
    setBusy(true);
    try {
      const answer = await postForAnswer(`${cctv(cam.agent)}/control`, { action: 'start_streaming', camera_id: cam.camera_id });
      if (!answer.success) throw new Error(answer.error || t('cameras.start_failed'));
      setStreaming(true);
      setBroken(false);
      onWatch(true);
    } catch (err) {
      toast(`${t('cameras.start_failed')} ${err.message}`, 'error');
    } finally {
      setBusy(false);
    }
  };
  const conditions = cam.health || [];
  const title = cam.name || cam.camera_id;
  return html`<article class="camera-tile" data-agent=${cam.agent} data-camera=${cam.camera_id} aria-label=${title}>
    <header><strong>${title}</strong> <span class="muted">${cam.agent}</span> ${statePill(cam.state)}
      ${cam.recording && html`<${Pill} tone="bad">${t('camera.recording')}<//>`}</header>
    <div class="camera-view">
      ${watching && !broken
        ? html`<${VideoImg} class="live" src=${livePath(cam.agent, cam.camera_id)} alt=${t('cameras.live_alt', { camera: title })}
            onError=${() => setBroken(true)} />`
        : html`<div class="camera-placeholder">${broken ? t('cameras.no_video') : (!streaming && !canStart ? t('cameras.not_streaming') : '')}</div>`}
    </div>
    <div class="camera-health" aria-live="polite">
      ${conditions.length > 0 && html`<span class="warn">${t('cameras.conditions', { list: conditions.join(', ') })}</span>`}
      ${cam.error && html`<span class="bad">${cam.error}</span>`}
      ${event && html`<span class=${`camera-event ${event.kind.endsWith('_cleared') ? 'ok' : 'bad'}`} data-kind=${event.kind}>
        ${event.kind} · ${fmtTime(event.timestamp)}${event.message ? ` · ${event.message}` : ''}</span>`}
    </div>
    <footer>
      ${watching
        ? html`<button type="button" class="watch" onClick=${() => onWatch(false)}>${t('cameras.stop')}</button>`
        : html`<button type="button" class="watch" disabled=${busy || (!streaming && !canStart)} onClick=${start}>${t('cameras.watch')}</button>`}
      <a href=${`#/cameras/${enc(camKey(cam.agent, cam.camera_id))}`} class="recordings-link">${t('cameras.recordings')}</a>
    </footer>
  </article>`;
}

function Timeline({ rows, selected, onPick }) {
  const spans = rows.filter((r) => r.start !== null);
  if (!spans.length) return null;
  const from = Math.min(...spans.map((r) => r.start));
  const to = Math.max(...spans.map((r) => r.end));
  const width = Math.max(to - from, 1);
  return html`<div class="timeline" id="timeline" role="group" aria-label=${t('recordings.timeline')}>
    <div class="timeline-track">
      ${spans.map((r) => html`<button type="button" key=${r.name} class="segment" data-name=${r.name}
        data-held=${r.held ? 'true' : 'false'} aria-pressed=${selected === r.name ? 'true' : 'false'}
        title=${`${fmtTime(r.start)} · ${fmtNumber(r.length, { maximumFractionDigits: 0 })} s`}
        aria-label=${`${fmtTime(r.start)} · ${fmtNumber(r.length, { maximumFractionDigits: 0 })} s${r.held ? ` · ${t('recordings.held')}` : ''}`}
        style=${`left:${((r.start - from) / width) * 100}%;width:max(4px,${((r.end - r.start) / width) * 100}%)`}
        onClick=${() => onPick(r.name)}></button>`)}
    </div>
    <div class="timeline-scale"><span>${fmtTime(from)}</span><span>${fmtTime(to)}</span></div>
  </div>`;
}

function Player({ agent, rec, onHold }) {
  const [at, setAt] = useState(0);
  const [seek, setSeek] = useState(0);
  const file = rec.name.split('/').slice(1).join('/');
  const cam = rec.name.split('/')[0];
  const src = `${cctv(agent)}/recordings/${enc(cam)}/${enc(file)}/play?t=${at}`;
  const max = Math.max(Math.floor(rec.length * 10) / 10, 0.1);
  return html`<section class="card player" id="player" aria-labelledby="player-h">
    <h3 id="player-h">${fmtTime(rec.start)} <span class="muted">${rec.name}</span>
      ${rec.held && html`<${Pill} tone="warn">${t('recordings.held')}<//>`}</h3>
    <${VideoImg} id="playback" key=${src} src=${src} alt=${t('recordings.playback_alt', { name: rec.name })} />
    <form class="seek" onSubmit=${(e) => { e.preventDefault(); setAt(seek); }}>
      <label for="seek">${t('recordings.seek')}</label>
      <input type="range" id="seek" min="0" max=${max} step="0.1" value=${seek} onInput=${(e) => setSeek(Number(e.currentTarget.value))} />
      <output for="seek">${fmtNumber(seek, { maximumFractionDigits: 1 })} s / ${fmtNumber(max, { maximumFractionDigits: 1 })} s</output>
      <button type="submit" id="seek-play">${t('recordings.play_from')}</button>
    </form>
    ${can('operator') && html`<button type="button" id="hold" onClick=${() => onHold(rec)}>
      ${rec.held ? t('recordings.release') : t('recordings.hold')}</button>`}
  </section>`;
}

function CameraDetail({ id }) {
  const cut = id.indexOf(':');
  const agent = id.slice(0, cut);
  const cam = id.slice(cut + 1);
  const recordings = useLoad(() => api.get(`${cctv(agent)}/recordings`, { camera_id: cam, limit: 500 }), [id]);
  const storage = useLoad(() => api.get(`${cctv(agent)}/storage`), [agent]);
  const [picked, setPicked] = useState(null);

  const rows = useMemo(() => ((recordings.data && recordings.data.recordings) || []).map((r) => {
    const start = recordingStart(r.name);
    const end = start === null ? r.modified : Math.max(r.modified, start);
    return { ...r, start, end, length: start === null ? 0 : end - start };
  }), [recordings.data]);
  const rec = rows.find((r) => r.name === picked);

  const hold = async (r) => {
    try {
      await api.post(`${cctv(agent)}/recordings/hold`, { name: r.name, hold: !r.held });
      toast(r.held ? t('recordings.released', { name: r.name }) : t('recordings.holding', { name: r.name }));
      recordings.reload();
      storage.reload();
    } catch (err) {
      toast(err.message, 'error');
    }
  };

  const mine = storage.data && storage.data.cameras ? storage.data.cameras[cam] : null;
  const disk = (storage.data && storage.data.disk) || {};
  return html`
    <h2 id="camera-title">${cam} <span class="muted">${agent}</span></h2>
    <section aria-labelledby="storage-h">
      <h3 id="storage-h">${t('storage.title')}</h3>
      <${ErrorBox} error=${storage.error} />
      ${storage.data && html`<${KeyValues} id="storage" items=${[
        [t('storage.used'), fmtBytes(mine && mine.bytes)],
        [t('storage.count'), mine ? fmtNumber(mine.count) : '—'],
        [t('storage.held'), mine ? fmtNumber(mine.held) : '—'],
        [t('storage.max_bytes'), mine && mine.max_bytes ? fmtBytes(mine.max_bytes) : t('storage.no_limit')],
        [t('storage.max_age'), mine && mine.max_age_h ? t('storage.hours', { n: mine.max_age_h }) : t('storage.no_limit')],
        [t('storage.disk_free'), `${fmtBytes(disk.free)} / ${fmtBytes(disk.total)}`],
        [t('storage.reserve'), fmtBytes(storage.data.reserve_bytes)],
      ]} />`}
    </section>
    <section aria-labelledby="recordings-h">
      <h3 id="recordings-h">${t('recordings.title')}</h3>
      <${ErrorBox} error=${recordings.error} />
      ${recordings.data && rows.length === 0 && html`<p class="muted" id="recordings-none">${t('recordings.none')}</p>`}
      <${Timeline} rows=${rows} selected=${picked} onPick=${setPicked} />
      ${rec && html`<${Player} key=${rec.name} agent=${agent} rec=${rec} onHold=${hold} />`}
      <${DataTable} id="recordings" caption=${t('recordings.title')} rows=${recordings.data ? rows : undefined}
        rowKey=${(r) => r.name} onRow=${(r) => setPicked(r.name)} initialSort=${{ key: 'start', dir: -1 }}
        columns=${[
          { key: 'start', label: t('recordings.start'), value: (r) => r.start, render: (r) => fmtTime(r.start) },
          { key: 'length', label: t('recordings.length'), value: (r) => r.length, render: (r) => `${fmtNumber(r.length, { maximumFractionDigits: 0 })} s` },
          { key: 'size', label: t('recordings.size'), value: (r) => r.size, render: (r) => fmtBytes(r.size) },
          { key: 'held', label: t('recordings.held'), value: (r) => (r.held ? 1 : 0), render: (r) => yesNo(r.held) },
          { key: 'active', label: t('recordings.active'), value: (r) => (r.active ? 1 : 0), render: (r) => yesNo(r.active) },
        ]} />
    </section>`;
}
