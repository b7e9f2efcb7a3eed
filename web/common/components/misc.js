// Small pieces: a status pill, tabs, an error box, a key/value list, a language and theme switcher.
import { html } from '../html.js';
import { lang, LANGS, setLang, t } from '../i18n.js';
import { setTheme, theme, THEMES } from '../theme.js';
import { useStore } from '../hooks.js';

// status: a word the app has translated already (text) and a tone: ok | warn | bad | muted
export function Pill({ tone = 'muted', children }) {
  return html`<span class="pill" data-tone=${tone}>${children}</span>`;
}

export function Tabs({ tabs, active, onChange, label }) {
  const onKey = (e, i) => {
    const map = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 };
    if (!(e.key in map)) return;
    e.preventDefault();
    const n = (map[e.key] + tabs.length) % tabs.length;
    onChange(tabs[n].key);
    const el = e.currentTarget.parentElement.querySelectorAll('[role=tab]')[n];
    if (el) el.focus();
  };
  return html`<div class="tabs" role="tablist" aria-label=${label}>
    ${tabs.map((tab, i) => html`<button type="button" role="tab" id=${`tab-${tab.key}`} key=${tab.key}
      aria-selected=${active === tab.key ? 'true' : 'false'} tabindex=${active === tab.key ? 0 : -1}
      onKeyDown=${(e) => onKey(e, i)} onClick=${() => onChange(tab.key)}>${tab.label}</button>`)}
  </div>`;
}

export function ErrorBox({ error }) {
  if (!error) return null;
  return html`<div class="errorbox" role="alert">${error.message || String(error)}</div>`;
}

export function KeyValues({ items, id }) {
  return html`<dl class="kv" id=${id}>
    ${items.filter(Boolean).map(([k, v]) => html`<div key=${k}><dt>${k}</dt><dd>${v ?? '—'}</dd></div>`)}
  </dl>`;
}

const LANG_LABEL = { 'zh-CN': () => t('prefs.lang.zh-CN'), en: () => t('prefs.lang.en') };
const THEME_LABEL = { system: () => t('prefs.theme.system'), light: () => t('prefs.theme.light'), dark: () => t('prefs.theme.dark') };

export function Preferences() {
  const l = useStore(lang);
  const th = useStore(theme);
  return html`<div class="prefs">
    <label><span class="sr-only">${t('prefs.language')}</span>
      <select id="lang-select" aria-label=${t('prefs.language')} value=${l} onChange=${(e) => setLang(e.target.value)}>
        ${LANGS.map((x) => html`<option value=${x}>${LANG_LABEL[x]()}</option>`)}
      </select></label>
    <label><span class="sr-only">${t('prefs.theme')}</span>
      <select id="theme-select" aria-label=${t('prefs.theme')} value=${th} onChange=${(e) => setTheme(e.target.value)}>
        ${THEMES.map((x) => html`<option value=${x}>${THEME_LABEL[x]()}</option>`)}
      </select></label>
  </div>`;
}
