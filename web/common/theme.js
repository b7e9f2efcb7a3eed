// Light and dark themes: CSS variables in kit.css keyed on <html data-theme>. The choice ("system", "light",
// "dark") is remembered; "system" follows prefers-color-scheme, live.
import { createStore, saved } from './store.js';

export const THEMES = ['system', 'light', 'dark'];
const KEY = 'ct.theme';
const media = window.matchMedia ? window.matchMedia('(prefers-color-scheme: dark)') : null;

export const theme = createStore(THEMES.includes(saved.get(KEY)) ? saved.get(KEY) : 'system');

export function resolvedTheme() {
  const choice = theme.get();
  if (choice !== 'system') return choice;
  return media && media.matches ? 'dark' : 'light';
}

function apply() {
  document.documentElement.dataset.theme = resolvedTheme();
}

export function setTheme(choice) {
  if (!THEMES.includes(choice)) return;
  saved.set(KEY, choice);
  theme.set(choice);
}

theme.subscribe(apply);
if (media) media.addEventListener('change', () => theme.set(theme.get()));
apply();

// A CSS variable's current value (charts draw on canvas and need colours as strings).
export function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}
