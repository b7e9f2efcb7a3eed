// The console's session: a cookie the LMS sets at sign-in (HTTP-only: this page never sees it) and the CSRF
// token it answers, which every change repeats (X-CSRF-Token). GET /api/session says who is signed in.
import { ApiClient } from '../common/api.js';
import { createStore } from '../common/store.js';

export const ROLES = ['viewer', 'operator', 'admin'];
// {kind, user: {id, username, role, cameras, must_change}, csrf_token} | null (signed out) | undefined (asking)
export const me = createStore(undefined);
export const expired = createStore(false);

let csrf = null;

function setSession(data) {
  csrf = (data && data.csrf_token) || null;
  me.set(data);
}

export const api = new ApiClient({
  extraHeaders: (method) => (method !== 'GET' && csrf ? { 'X-CSRF-Token': csrf } : {}),
  onUnauthorized: () => {
    if (me.get()) expired.set(true);
    setSession(null);
  },
});

// POST a body and read the answer whatever its `success` (a batch with failures answers success: false, with
// every agent's result in `data`); throws only when there is no JSON answer or the call is refused (4xx/5xx).
// keepalive: the request outlives the page (sent while the tab closes).
export async function postForAnswer(path, body, { keepalive = false } = {}) {
  const res = await fetch(path, {
    method: 'POST', credentials: 'same-origin', cache: 'no-store', keepalive,
    headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...(csrf ? { 'X-CSRF-Token': csrf } : {}) },
    body: JSON.stringify(body),
  });
  const payload = await res.json().catch(() => null);
  if (!res.ok || !payload) {
    if (res.status === 401) setSession(null);
    throw new Error((payload && payload.error) || `HTTP ${res.status}`);
  }
  return payload;
}

export async function loadSession() {
  try {
    setSession(await api.get('/api/session'));
  } catch (err) {
    if (err.status === 401) setSession(null);
    else throw err;
  }
}

export async function signIn(username, password) {
  expired.set(false);
  setSession(await api.post('/api/session', { username, password }, { anonymous: true }));
}

export async function changePassword(current, next) {
  await api.post('/api/session/password', { current_password: current, new_password: next });
  await loadSession();
}

// What must be done while the session still works, before it ends (a camera preview asks its client to stop).
const beforeSignOut = new Set();

export function onSignOut(fn) {
  beforeSignOut.add(fn);
  return () => beforeSignOut.delete(fn);
}

export async function signOut() {
  await Promise.all([...beforeSignOut].map((fn) => Promise.resolve().then(fn).catch(() => {})));
  try {
    await api.del('/api/session');
  } finally {
    setSession(null);
  }
}

export function role() {
  const s = me.get();
  return (s && s.user && s.user.role) || (s && s.role) || 'viewer';
}

// whether the caller's role reaches `needed`
export function can(needed) {
  return ROLES.indexOf(role()) >= ROLES.indexOf(needed);
}

export function canWatch() {
  const s = me.get();
  return !!(s && (s.user ? s.user.cameras : true));
}
