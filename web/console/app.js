// The site console: boot (catalogues, session), the shell (navigation, push/poll indicator, language, theme)
// and the hash router (#/agents/pc-101). Pages and their controls are offered only to roles that may use them.
import { html, render, useEffect, useState } from '../common/html.js';
import { lang, loadCatalogues, t } from '../common/i18n.js';
import '../common/theme.js';
import { useStore } from '../common/hooks.js';
import { ConnectionIndicator } from '../common/components/connection.js';
import { DialogHost } from '../common/components/dialog.js';
import { ToastHost } from '../common/components/toast.js';
import { ErrorBox, Pill, Preferences } from '../common/components/misc.js';
import { can, loadSession, me, role, signOut } from './session.js';
import { connectLive, liveMode, stopLive } from './live.js';
import { ChangePassword, SignIn } from './signin.js';
import { liveLabel, roleLabel } from './format.js';
import { Fleet } from './pages/fleet.js';
import { AgentDetail } from './pages/agent.js';
import { Accounts } from './pages/accounts.js';
import { Cameras } from './pages/cameras.js';
import { ClassTopClient, ClassTopClients } from './pages/classtop.js';
import { Events } from './pages/events.js';
import { Tokens } from './pages/tokens.js';
import { Audit } from './pages/audit.js';
import { Enrolment } from './pages/enrolment.js';

const PAGES = [
  { key: 'fleet', role: 'viewer', label: () => t('nav.fleet'), list: Fleet },
  { key: 'agents', role: 'viewer', label: () => t('nav.fleet'), list: Fleet, detail: AgentDetail, hidden: true },
  { key: 'cameras', role: 'viewer', label: () => t('nav.cameras'), list: Cameras, detail: Cameras },
  { key: 'classtop', role: 'viewer', label: () => t('nav.classtop'), list: ClassTopClients, detail: ClassTopClient },
  { key: 'events', role: 'viewer', label: () => t('nav.events'), list: Events },
  { key: 'accounts', role: 'admin', label: () => t('nav.accounts'), list: Accounts },
  { key: 'tokens', role: 'admin', label: () => t('nav.tokens'), list: Tokens },
  { key: 'audit', role: 'admin', label: () => t('nav.audit'), list: Audit },
  { key: 'enrolment', role: 'admin', label: () => t('nav.enrolment'), list: Enrolment },
];

function parseHash() {
  const [path] = (window.location.hash || '').replace(/^#\/?/, '').split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { page: parts[0] || 'fleet', id: parts[1] || null };
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

function LiveState() {
  const mode = useStore(liveMode);
  const tone = mode === 'push' ? 'ok' : mode === 'poll' ? 'warn' : 'muted';
  return html`<span id="live-mode" data-mode=${mode}><${Pill} tone=${tone}>${liveLabel(mode)}<//></span>`;
}

function Shell() {
  const route = useRoute();
  const who = useStore(me);
  const pages = PAGES.filter((p) => can(p.role));
  const page = pages.find((p) => p.key === route.page);
  useEffect(() => {
    connectLive();
    return stopLive;
  }, []);
  useEffect(() => {
    const main = document.getElementById('main');
    if (main) main.focus({ preventScroll: true });
    document.title = `${page ? page.label() : t('app.not_found')} · ${t('app.title')}`;
  }, [route.page, route.id]);
  const View = page ? (route.id && page.detail ? page.detail : page.list) : null;
  const name = (who.user && who.user.username) || who.name;
  return html`
    <a class="skip" href="#main" onClick=${(e) => { e.preventDefault(); document.getElementById('main').focus(); }}>${t('app.skip')}</a>
    <header class="top">
      <div class="brand">${t('app.title')}</div>
      <nav aria-label=${t('nav.label')} id="nav">
        ${pages.filter((p) => !p.hidden).map((p) => html`<a href=${`#/${p.key}`} id=${`nav-${p.key}`} aria-current=${p === page || (p.key === 'fleet' && route.page === 'agents') ? 'page' : undefined}>${p.label()}</a>`)}
      </nav>
      <div class="top-right">
        <${LiveState} />
        <${ConnectionIndicator} />
        <${Preferences} />
        <span class="who" id="who">${name} · <span id="who-role">${roleLabel(role())}</span></span>
        <button type="button" id="sign-out" onClick=${signOut}>${t('app.sign_out')}</button>
      </div>
    </header>
    <main id="main" tabindex="-1" data-page=${route.page}>
      ${View ? html`<${View} id=${route.id} key=${`${route.page}/${route.id || ''}`} />` : html`<h1>${t('app.not_found')}</h1><p><a href="#/fleet">${t('nav.fleet')}</a></p>`}
    </main>`;
}

function App() {
  const l = useStore(lang);
  const who = useStore(me);
  const [error, setError] = useState(null);
  useEffect(() => {
    if (who === undefined) loadSession().catch(setError);
  }, [who]);
  let body;
  if (error) body = html`<main class="signin"><div class="card"><${ErrorBox} error=${error} /></div></main>`;
  else if (who === undefined) body = html`<p class="loading">${t('app.loading')}</p>`;
  else if (!who) body = html`<${SignIn} />`;
  else if (who.must_change) body = html`<${ChangePassword} />`;
  else body = html`<${Shell} />`;
  return html`<div class="app" key=${l}>${body}<${ToastHost} /><${DialogHost} /></div>`;
}

async function boot() {
  const root = document.getElementById('root');
  try {
    await loadCatalogues(new URL('../common/messages/', import.meta.url), new URL('./messages/', import.meta.url));
  } catch (err) {
    root.textContent = `The console could not load its messages: ${err.message}`;
    return;
  }
  render(html`<${App} />`, root);
}

boot();
