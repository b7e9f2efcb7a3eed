// A ClassTop desktop client's camera preview: `camera_start_preview` through the command API makes the client send
// JPEG frames over its WebSocket, the LMS keeps the latest (GET /api/legacy/{uuid}/camera/frame), this polls it.
// Stop, leaving the page, signing out and closing the tab each send `camera_stop_preview`. Starting needs operator
// (it is a command) and the cameras permission (the frames are video): anyone else gets a sentence, no button.
import { html, useEffect, useRef, useState } from '../../common/html.js';
import { fmtAgo, t } from '../../common/i18n.js';
import { api, can, canWatch, onSignOut, postForAnswer } from '../session.js';

export const PREVIEW_FPS = 2;
const POLL_MS = 500;
const STALE_S = 10;
export const MAX_CAMERA_INDEX = 63;
const BASE64 = /^[A-Za-z0-9+/=]+$/;

const commandPath = (uuid) => `/api/clients/${encodeURIComponent(uuid)}/command`;
const framePath = (uuid) => `/api/legacy/${encodeURIComponent(uuid)}/camera/frame`;

// Why a command was not done, in words: the LMS's code, or the client's own refusal.
export function commandError(err) {
  const code = err && err.code;
  if (code === 'agent_offline') return t('preview.offline');
  if (code === 'unknown_agent') return t('preview.unknown');
  if (code === 'timeout') return t('preview.timeout');
  if (err && err.status === 403) return t('preview.forbidden');
  return (err && err.message) || String(err);
}

// POST a command and return its data; a client's refusal (`data.success === false`) throws like an LMS error.
async function command(uuid, name, params = {}) {
  const data = await api.post(commandPath(uuid), { command: name, params });
  if (data && data.success === false) throw new Error(t('preview.refused', { why: data.error || '' }));
  return data;
}

function stopCommand(uuid, keepalive = false) {
  if (keepalive) return postForAnswer(commandPath(uuid), { command: 'camera_stop_preview', params: {} }, { keepalive: true });
  return command(uuid, 'camera_stop_preview');
}

export function CameraPreview({ uuid, connected }) {
  const allowed = can('operator') && canWatch();
  const [index, setIndex] = useState('0');
  const [running, setRunning] = useState(false);
  const [busy, setBusy] = useState(false);
  const [note, setNote] = useState('');
  const [frame, setFrame] = useState(null); // {src, camera_index, received_at}
  const run = useRef(null); // {uuid, index, stale, lastAt, lastChange, timer} while a preview runs
  const gen = useRef(0); // bumped by stop: a start still in flight sees it and undoes itself

  const halt = () => {
    gen.current += 1;
    const p = run.current;
    run.current = null;
    setRunning(false);
    setFrame(null);
    if (p) clearTimeout(p.timer);
    return p;
  };

  useEffect(() => {
    const exit = () => {
      if (run.current) stopCommand(run.current.uuid, true).catch(() => {});
    };
    const offSignOut = onSignOut(async () => {
      const p = halt();
      if (p) await stopCommand(p.uuid).catch(() => {});
    });
    window.addEventListener('pagehide', exit);
    return () => {
      window.removeEventListener('pagehide', exit);
      offSignOut();
      const p = halt();
      if (p) stopCommand(p.uuid).catch(() => {});
    };
  }, [uuid]);

  if (!allowed) return html`<p class="muted" id="preview-none">${t('preview.not_allowed')}</p>`;

  const poll = async (p) => {
    if (run.current !== p) return;
    try {
      const f = await api.get(framePath(p.uuid));
      if (run.current !== p) return;
      if (f.received_at === p.stale) {
        setNote(t('preview.waiting', { index: p.index }));
      } else if (typeof f.frame !== 'string' || !BASE64.test(f.frame)) {
        setNote(t('preview.bad_frame'));
      } else {
        if (f.received_at !== p.lastAt) {
          p.lastAt = f.received_at;
          p.lastChange = Date.now();
          setFrame({ src: `data:image/jpeg;base64,${f.frame}`, camera_index: f.camera_index, received_at: f.received_at });
          setNote('');
        } else if (Date.now() - p.lastChange > STALE_S * 1000) {
          setNote(t('preview.stale'));
        }
      }
    } catch (err) {
      if (run.current !== p) return;
      setNote(err.status === 404 ? t('preview.waiting', { index: p.index }) : t('preview.cannot_read', { why: commandError(err) }));
    }
    if (run.current === p) p.timer = setTimeout(() => poll(p), POLL_MS);
  };

  const start = async () => {
    const raw = index.trim();
    if (!/^\d{1,2}$/.test(raw) || Number(raw) > MAX_CAMERA_INDEX) {
      setNote(t('preview.bad_index', { max: MAX_CAMERA_INDEX }));
      return;
    }
    const n = Number(raw);
    const mine = ++gen.current;
    setBusy(true);
    setNote(t('preview.starting', { index: n }));
    try {
      // a frame left from an earlier preview is not shown as this one's
      const before = await api.get(framePath(uuid)).catch(() => null);
      await command(uuid, 'camera_start_preview', { camera_index: n, fps: PREVIEW_FPS });
      if (mine !== gen.current) {
        stopCommand(uuid).catch(() => {}); // stopped or left meanwhile: undo
        return;
      }
      const p = { uuid, index: n, stale: before ? before.received_at : null, lastAt: null, lastChange: Date.now(), timer: null };
      run.current = p;
      setRunning(true);
      setNote(t('preview.waiting', { index: n }));
      poll(p);
    } catch (err) {
      if (mine === gen.current) setNote(t('preview.cannot_start', { why: commandError(err) }));
    } finally {
      setBusy(false);
    }
  };

  const stop = async () => {
    const p = halt();
    if (!p) return;
    setBusy(true);
    try {
      await stopCommand(p.uuid);
      setNote(t('preview.stopped'));
    } catch (err) {
      setNote(t('preview.cannot_stop', { why: commandError(err) }));
    } finally {
      setBusy(false);
    }
  };

  return html`
    <div class="preview" id="preview">
      <form class="row" onSubmit=${(e) => { e.preventDefault(); if (!busy) (running ? stop() : start()); }}>
        <label for="preview-index">${t('preview.index')}</label>
        <input id="preview-index" inputmode="numeric" size="3" value=${index} disabled=${running}
          aria-describedby="preview-note" onInput=${(e) => setIndex(e.target.value)} />
        <button type="submit" id="preview-toggle" class=${running ? '' : 'primary'} disabled=${busy}>
          ${running ? t('preview.stop') : t('preview.start')}</button>
        ${!connected && html`<span class="muted">${t('preview.not_connected')}</span>`}
      </form>
      <p id="preview-note" role="status" aria-live="polite">${note}</p>
      ${frame && html`<figure>
        <img id="preview-img" src=${frame.src} alt=${t('preview.alt', { index: frame.camera_index })} />
        <figcaption id="preview-caption" class="muted">${t('preview.caption', { index: frame.camera_index, ago: fmtAgo(frame.received_at) })}</figcaption>
      </figure>`}
    </div>`;
}
