// What the site console and the district dashboard share around their pages: the hash router (#/agents/pc-101),
// the shell (skip link, navigation, connection indicator, language and theme, who is signed in, sign-out, the
// page's focus and title), the app's root (toasts and dialogs, redrawn when the language changes) and the boot
// (message catalogues, then the app). Each app gives its pages (already filtered by the caller's role).
import { html, render, useEffect, useState } from './html.js';
import { lang, loadCatalogues, t } from './i18n.js';
import './theme.js';
import { useStore } from './hooks.js';
import { ConnectionIndicator } from './components/connection.js';
import { DialogHost } from './components/dialog.js';
import { ToastHost } from './components/toast.js';
import { Preferences } from './components/misc.js';

export function parseHash(home, hash = window.location.hash) {
  const [path] = (hash || '').replace(/^#\/?/, '').split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { page: parts[0] || home, id: parts[1] || null };
}

export function go(path) {
  window.location.hash = `#/${path}`;
}

export function useRoute(home) {
  const [route, setRoute] = useState(parseHash(home));
  useEffect(() => {
    const on = () => setRoute(parseHash(home));
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, [home]);
  return route;
}

// pages: [{key, label(), list, detail?, hidden?, nav?: the key of the entry marked current for it}];
// title: the app's name; status: shown before the connection indicator; who: {name, title, role: its label}; banner: above every page.
export function Shell({ title, pages, home, status = null, who, onSignOut, banner = null, note = null }) {
  const route = useRoute(home);
  const page = pages.find((p) => p.key === route.page);
  useEffect(() => {
    const main = document.getElementById('main');
    if (main) main.focus({ preventScroll: true });
    document.title = `${page ? page.label() : t('app.not_found')} · ${title}`;
  }, [route.page, route.id]);
  const View = page ? (route.id && page.detail ? page.detail : page.list) : null;
  const homePage = pages.find((p) => p.key === home);
  return html`
    <a class="skip" href="#main" onClick=${(e) => { e.preventDefault(); document.getElementById('main').focus(); }}>${t('app.skip')}</a>
    <header class="top">
      <div class="brand">${title}</div>
      <nav aria-label=${t('nav.label')} id="nav">
        ${pages.filter((p) => !p.hidden).map((p) => html`<a href=${`#/${p.key}`} id=${`nav-${p.key}`}
          aria-current=${p === page || (page && page.nav === p.key) ? 'page' : undefined}>${p.label()}</a>`)}
      </nav>
      <div class="top-right">
        ${status}
        <${ConnectionIndicator} />
        <${Preferences} />
        <span class="who" id="who" title=${who.title || ''}>${who.name} · <span id="who-role">${who.role}</span></span>
        <button type="button" id="sign-out" onClick=${onSignOut}>${t('app.sign_out')}</button>
      </div>
    </header>
    <main id="main" tabindex="-1" data-page=${route.page}>
      ${note}
      ${banner}
      ${View ? html`<${View} id=${route.id} key=${`${route.page}/${route.id || ''}`} />`
        : html`<h1>${t('app.not_found')}</h1><p><a href=${`#/${home}`}>${homePage ? homePage.label() : home}</a></p>`}
    </main>`;
}

// The app's root: its body, and the toasts and dialogs above it; everything is redrawn in a new language.
export function Root({ children }) {
  const l = useStore(lang);
  return html`<div class="app" key=${l}>${children}<${ToastHost} /><${DialogHost} /></div>`;
}

// Load the kit's and the app's message catalogues (`appMessages`: a URL), then draw `App` into #root.
export async function boot(App, appMessages, what) {
  const root = document.getElementById('root');
  try {
    await loadCatalogues(new URL('./messages/', import.meta.url), appMessages);
  } catch (err) {
    root.textContent = `The ${what} could not load its messages: ${err.message}`;
    return;
  }
  render(html`<${App} />`, root);
}
