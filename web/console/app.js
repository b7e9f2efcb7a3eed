// The site console: its pages (each offered only to the roles that may use it; inside pages every control too),
// the push/poll indicator and the open alerts above every page, around the kit's shell and router (web/common).
import { html, useEffect, useState } from '../common/html.js';
import { t } from '../common/i18n.js';
import { useStore } from '../common/hooks.js';
import { boot, Root, Shell } from '../common/shell.js';
import { ErrorBox, Pill } from '../common/components/misc.js';
import { can, loadSession, me, role, signOut } from './session.js';
import { connectLive, liveMode, stopLive } from './live.js';
import { ChangePassword, SignIn } from './signin.js';
import { liveLabel, roleLabel } from './format.js';
import { AlertsBanner } from './alerts.js';
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
  { key: 'agents', role: 'viewer', label: () => t('nav.fleet'), list: Fleet, detail: AgentDetail, hidden: true, nav: 'fleet' },
  { key: 'cameras', role: 'viewer', label: () => t('nav.cameras'), list: Cameras, detail: Cameras },
  { key: 'classtop', role: 'viewer', label: () => t('nav.classtop'), list: ClassTopClients, detail: ClassTopClient },
  { key: 'events', role: 'viewer', label: () => t('nav.events'), list: Events },
  { key: 'accounts', role: 'admin', label: () => t('nav.accounts'), list: Accounts },
  { key: 'tokens', role: 'admin', label: () => t('nav.tokens'), list: Tokens },
  { key: 'audit', role: 'admin', label: () => t('nav.audit'), list: Audit },
  { key: 'enrolment', role: 'admin', label: () => t('nav.enrolment'), list: Enrolment },
];

function LiveState() {
  const mode = useStore(liveMode);
  const tone = mode === 'push' ? 'ok' : mode === 'poll' ? 'warn' : 'muted';
  return html`<span id="live-mode" data-mode=${mode}><${Pill} tone=${tone}>${liveLabel(mode)}<//></span>`;
}

function Console() {
  const who = useStore(me);
  useEffect(() => {
    connectLive();
    return stopLive;
  }, []);
  return html`<${Shell} title=${t('app.title')} pages=${PAGES.filter((p) => can(p.role))} home="fleet" status=${html`<${LiveState} />`}
    who=${{ name: (who.user && who.user.username) || who.name, role: roleLabel(role()) }} onSignOut=${signOut}
    banner=${html`<${AlertsBanner} />`} />`;
}

function App() {
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
  else body = html`<${Console} />`;
  return html`<${Root}>${body}<//>`;
}

boot(App, new URL('./messages/', import.meta.url), 'console');
