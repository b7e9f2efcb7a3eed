// The signed-in session: tokens in sessionStorage ("ct.session": {access_token, refresh_token, expires_at,
// kind}), refreshed shortly before they expire; the caller's identity (GET /api/me) and what its role may do.
import { ApiClient, isMissingRoute } from '../common/api.js';
import { createStore } from '../common/store.js';

const KEY = 'ct.session';
const REFRESH_MARGIN_S = 60;

export const ROLES = ['viewer', 'operator', 'admin'];

function load() {
  try {
    const s = JSON.parse(window.sessionStorage.getItem(KEY) || 'null');
    return s && typeof s.access_token === 'string' && s.access_token ? s : null;
  } catch {
    return null;
  }
}

// the session (null: signed out) and the caller (null until /api/me answered)
export const session = createStore(load());
export const me = createStore(null);

function save(s) {
  if (s) window.sessionStorage.setItem(KEY, JSON.stringify(s));
  else window.sessionStorage.removeItem(KEY);
  session.set(s);
}

export function signOut() {
  save(null);
  me.set(null);
}

// Tokens from /api/auth/sign-in, /challenge or /refresh -> the stored session.
export function startSession(tokens, kind = 'cognito') {
  const expiresIn = Number(tokens.expires_in) || 3600;
  save({
    kind,
    access_token: tokens.access_token,
    refresh_token: tokens.refresh_token || (session.get() && session.get().refresh_token) || null,
    expires_at: kind === 'token' ? null : Math.floor(Date.now() / 1000) + expiresIn,
  });
}

let refreshing = null;

async function currentToken() {
  const s = session.get();
  if (!s) return null;
  if (s.expires_at && s.refresh_token && s.expires_at - Date.now() / 1000 < REFRESH_MARGIN_S) {
    if (!refreshing) {
      refreshing = anonymous.post('/api/auth/refresh', { refresh_token: s.refresh_token }, { anonymous: true })
        .then((tokens) => startSession(tokens, 'cognito'))
        .catch(() => signOut())
        .finally(() => { refreshing = null; });
    }
    await refreshing;
  }
  const now = session.get();
  return now ? now.access_token : null;
}

// the client every page uses; a 401 signs out (the sign-in page says why)
export const api = new ApiClient({
  getToken: currentToken,
  onUnauthorized: () => {
    if (session.get()) {
      expired.set(true);
      signOut();
    }
  },
});
// sign-in calls: no bearer token
export const anonymous = new ApiClient({});
export const expired = createStore(false);

// GET /api/me. A cloud without the route yet is treated as a viewer of every site: the page then offers
// nothing the caller might not be allowed to do.
export async function loadMe() {
  try {
    const who = await api.get('/api/me');
    me.set({ name: who.name || who.email || '', email: who.email || null, role: ROLES.includes(who.role) ? who.role : 'viewer',
      sites: Array.isArray(who.sites) ? who.sites : null, auth: who.auth || session.get().kind });
  } catch (err) {
    if (isMissingRoute(err)) {
      me.set({ name: '', email: null, role: 'viewer', sites: null, auth: session.get().kind, guessed: true });
      return;
    }
    throw err;
  }
}

// can('operator'): whether the caller's role is at least that role
export function can(role) {
  const who = me.get();
  return !!who && ROLES.indexOf(who.role) >= ROLES.indexOf(role);
}
