// The district dashboard: boot (catalogues, session, caller), the shell (navigation, connection indicator,
// language and theme) and the hash router (#/agents/room-101). Each page is offered only to the roles that
// may use it, and inside pages every control is shown only to roles that may use it (session.can).
import { html, render, useEffect, useState } from '../common/html.js';
import { lang, loadCatalogues, t } from '../common/i18n.js';
import '../common/theme.js';
import { useStore } from '../common/hooks.js';
import { ConnectionIndicator } from '../common/components/connection.js';
import { DialogHost } from '../common/components/dialog.js';
import { ToastHost } from '../common/components/toast.js';
import { ErrorBox, Preferences } from '../common/components/misc.js';
import { can, loadMe, me, session, signOut } from './session.js';
import { SignIn } from './signin.js';
import { roleLabel } from './format.js';
import { Overview } from './pages/overview.js';
import { SiteDetail, Sites } from './pages/sites.js';
import { Agents } from './pages/agents.js';
import { AgentDetail } from './pages/agent.js';
import { Commands } from './pages/commands.js';
import { Cameras } from './pages/cameras.js';
import { Audit } from './pages/audit.js';
import { Users } from './pages/users.js';
import { Tokens } from './pages/tokens.js';

const PAGES = [
  { key: 'overview', role: 'viewer', label: () => t('nav.overview'), list: Overview },
  { key: 'sites', role: 'viewer', label: () => t('nav.sites'), list: Sites, detail: SiteDetail },
  { key: 'agents', role: 'viewer', label: () => t('nav.agents'), list: Agents, detail: AgentDetail },
  { key: 'commands', role: 'viewer', label: () => t('nav.commands'), list: Commands, detail: Commands },
  { key: 'cameras', role: 'viewer', label: () => t('nav.cameras'), list: Cameras },
  { key: 'audit', role: 'admin', label: () => t('nav.audit'), list: Audit },
  { key: 'users', role: 'admin', label: () => t('nav.users'), list: Users },
  { key: 'tokens', role: 'admin', label: () => t('nav.tokens'), list: Tokens },
];

function parseHash() {
  const [path] = (window.location.hash || '').replace(/^#\/?/, '').split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { page: parts[0] || 'overview', id: parts[1] || null };
}

export function go(path) {
  window.location.hash = `#/${path}`;
}

function useRoute() {
  const [route, setRoute] = useState(parseHash());
  useEffect(() => {
    const on = () => setRoute(parseHash());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}

function Shell() {
  const route = useRoute();
  const who = useStore(me);
  const pages = PAGES.filter((p) => can(p.role));
  const page = pages.find((p) => p.key === route.page);
  useEffect(() => {
    const main = document.getElementById('main');
    if (main) main.focus({ preventScroll: true });
    document.title = `${page ? page.label() : t('app.not_found')} · ${t('app.title')}`;
  }, [route.page, route.id]);
  const View = page ? (route.id && page.detail ? page.detail : page.list) : null;
  return html`
    <a class="skip" href="#main" onClick=${(e) => { e.preventDefault(); document.getElementById('main').focus(); }}>${t('app.skip')}</a>
    <header class="top">
      <div class="brand">${t('app.title')}</div>
      <nav aria-label=${t('nav.label')} id="nav">
        ${pages.map((p) => html`<a href=${`#/${p.key}`} id=${`nav-${p.key}`} aria-current=${p === page ? 'page' : undefined}>${p.label()}</a>`)}
      </nav>
      <div class="top-right">
        <${ConnectionIndicator} />
        <${Preferences} />
        <span class="who" id="who" title=${who.email || ''}>${who.name || t('app.api_token')} · <span id="who-role">${roleLabel(who.role)}</span></span>
        <button type="button" id="sign-out" onClick=${signOut}>${t('app.sign_out')}</button>
      </div>
    </header>
    <main id="main" tabindex="-1" data-page=${route.page}>
      ${who.guessed && html`<p class="note" id="role-guessed">${t('app.role_guessed')}</p>`}
      ${View ? html`<${View} id=${route.id} key=${`${route.page}/${route.id || ''}`} />` : html`<h1>${t('app.not_found')}</h1><p><a href="#/overview">${t('nav.overview')}</a></p>`}
    </main>`;
}

function App() {
  const l = useStore(lang);
  const s = useStore(session);
  const who = useStore(me);
  const [error, setError] = useState(null);
  useEffect(() => {
    if (s && !who) loadMe().catch(setError);
  }, [s, who]);
  let body;
  if (!s) body = html`<${SignIn} onSignedIn=${() => { if (!window.location.hash) go('overview'); }} />`;
  else if (error) body = html`<main class="signin"><div class="card"><${ErrorBox} error=${error} /><button type="button" onClick=${() => { setError(null); signOut(); }}>${t('app.sign_out')}</button></div></main>`;
  else if (!who) body = html`<p class="loading">${t('app.loading')}</p>`;
  else body = html`<${Shell} />`;
  return html`<div class="app" key=${l}>${body}<${ToastHost} /><${DialogHost} /></div>`;
}

async function boot() {
  const root = document.getElementById('root');
  try {
    await loadCatalogues(new URL('../common/messages/', import.meta.url), new URL('./messages/', import.meta.url));
  } catch (err) {
    root.textContent = `The dashboard could not load its messages: ${err.message}`;
    return;
  }
  render(html`<${App} />`, root);
}

boot();
