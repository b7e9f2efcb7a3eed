// Translations: zh-CN and en catalogues (JSON, one per language and per directory), merged in load order.
// Every visible string goes through t('literal.key', {params}); tests/unit/web/test_web_i18n.py checks that both
// catalogues have the same keys and that every key used in the code exists.
import { createStore, saved } from './store.js';

export const LANGS = ['zh-CN', 'en'];
const KEY = 'ct.lang';
const catalogues = { 'zh-CN': {}, en: {} };

function initialLang() {
  const stored = saved.get(KEY);
  if (LANGS.includes(stored)) return stored;
  const nav = (navigator.languages && navigator.languages[0]) || navigator.language || 'en';
  return nav.toLowerCase().startsWith('zh') ? 'zh-CN' : 'en';
}

export const lang = createStore(initialLang());
lang.subscribe((l) => {
  document.documentElement.lang = l;
});
document.documentElement.lang = lang.get();

// Load the catalogues found at each base URL (`${base}/en.json`, `${base}/zh-CN.json`), later ones win.
export async function loadCatalogues(...bases) {
  for (const base of bases) {
    for (const l of LANGS) {
      const res = await fetch(new URL(`${l}.json`, base));
      if (!res.ok) throw new Error(`catalogue ${l} of ${base}: HTTP ${res.status}`);
      Object.assign(catalogues[l], await res.json());
    }
  }
}

export function setLang(l) {
  if (!LANGS.includes(l)) return;
  saved.set(KEY, l);
  lang.set(l);
}

// The message of `key` in the current language, `{name}` placeholders filled from `params`.
export function t(key, params) {
  const table = catalogues[lang.get()];
  let text = table[key] ?? catalogues.en[key];
  if (text === undefined) {
    console.warn(`i18n: no message "${key}"`);
    text = key;
  }
  if (params) text = text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
  return text;
}

// Date and number formatting in the current language.
export function fmtTime(epochS) {
  if (epochS === null || epochS === undefined || epochS === '') return '—';
  const d = new Date(Number(epochS) * 1000);
  if (Number.isNaN(d.getTime())) return '—';
  return new Intl.DateTimeFormat(lang.get(), { dateStyle: 'short', timeStyle: 'medium' }).format(d);
}

export function fmtAgo(epochS, nowMs = Date.now()) {
  if (!epochS) return '—';
  const s = Math.round(Number(epochS) - nowMs / 1000);
  const rtf = new Intl.RelativeTimeFormat(lang.get(), { numeric: 'auto' });
  const abs = Math.abs(s);
  if (abs < 60) return rtf.format(s, 'second');
  if (abs < 3600) return rtf.format(Math.round(s / 60), 'minute');
  if (abs < 86400) return rtf.format(Math.round(s / 3600), 'hour');
  return rtf.format(Math.round(s / 86400), 'day');
}

export function fmtNumber(n, opts) {
  if (n === null || n === undefined || Number.isNaN(Number(n))) return '—';
  return new Intl.NumberFormat(lang.get(), opts).format(Number(n));
}
