// The district dashboard: its pages (each offered only to the roles that may use it; inside pages every control
// is shown only to roles that may use it, session.can) and the session (sign-in, the caller), around the kit's
// shell and router (web/common).
import { html, useEffect, useState } from '../common/html.js';
import { t } from '../common/i18n.js';
import { useStore } from '../common/hooks.js';
import { boot, go, Root, Shell } from '../common/shell.js';
import { ErrorBox } from '../common/components/misc.js';
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

function Dashboard() {
  const who = useStore(me);
  return html`<${Shell} title=${t('app.title')} pages=${PAGES.filter((p) => can(p.role))} home="overview"
    who=${{ name: who.name || t('app.api_token'), title: who.email, role: roleLabel(who.role) }} onSignOut=${signOut}
    note=${who.guessed && html`<p class="note" id="role-guessed">${t('app.role_guessed')}</p>`} />`;
}

function App() {
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
  else body = html`<${Dashboard} />`;
  return html`<${Root}>${body}<//>`;
}

boot(App, new URL('./messages/', import.meta.url), 'dashboard');
