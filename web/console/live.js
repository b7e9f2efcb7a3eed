// Live pages: the LMS pushes what changes (GET /api/live, Server-Sent Events; the browser sends the session
// cookie). While the push channel is down the page polls instead, and the indicator says which it is using.
import { createStore } from '../common/store.js';
import { connection } from '../common/poller.js';
import { useEffect } from '../common/html.js';

// 'connecting' | 'push' | 'poll'
export const liveMode = createStore('connecting');

const listeners = new Set();
let source = null;
let retryTimer = null;
// the id of the last change received: a new connection after a failure resumes after it (the LMS sends what the
// page missed meanwhile, or `resync` when it no longer holds it)
let lastId = null;
const RETRY_S = 10;

function dispatch(kind, event) {
  let data = null;
  try {
    data = JSON.parse(event.data);
  } catch {
    return;
  }
  for (const fn of listeners) fn(kind, data);
}

const KINDS = ['connected', 'presence', 'metrics', 'command', 'event', 'camera', 'alert', 'resync'];

export function connectLive(url = '/api/live') {
  if (source) return;
  clearTimeout(retryTimer);
  liveMode.set('connecting');
  const resume = lastId === null ? '' : `${url.includes('?') ? '&' : '?'}after=${lastId}`;
  source = new EventSource(url + resume, { withCredentials: true });
  source.onopen = () => {
    liveMode.set('push');
    connection.set((c) => ({ ...c, lastOk: Date.now(), failures: 0, error: null, retryAt: null }));
  };
  for (const kind of KINDS) {
    source.addEventListener(kind, (e) => {
      if (/^[0-9]{1,18}$/.test(e.lastEventId)) lastId = e.lastEventId;
      connection.set((c) => ({ ...c, lastOk: Date.now(), failures: 0, error: null }));
      dispatch(kind, e);
    });
  }
  source.onerror = () => {
    // the push channel failed: close it, poll meanwhile, and try it again later
    disconnectLive();
    liveMode.set('poll');
    retryTimer = setTimeout(() => connectLive(url), RETRY_S * 1000);
  };
}

export function disconnectLive() {
  if (source) source.close();
  source = null;
}

export function stopLive() {
  clearTimeout(retryTimer);
  disconnectLive();
  lastId = null;
  liveMode.set('connecting');
}

// Call `onChange(kind, data)` for every pushed change while the component is shown.
export function useLive(onChange, deps = []) {
  useEffect(() => {
    listeners.add(onChange);
    return () => listeners.delete(onChange);
  }, deps);
}
