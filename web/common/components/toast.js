// Toasts: short messages in an aria-live region; errors stay until dismissed, others fade after 5 s.
import { html } from '../html.js';
import { t } from '../i18n.js';
import { createStore } from '../store.js';
import { useStore } from '../hooks.js';

const toasts = createStore([]);
let next = 1;

export function toast(message, kind = 'info') {
  const id = next++;
  toasts.set((list) => [...list.slice(-4), { id, message, kind }]);
  if (kind !== 'error') setTimeout(() => dismiss(id), 5000);
  return id;
}

export function dismiss(id) {
  toasts.set((list) => list.filter((x) => x.id !== id));
}

export function ToastHost() {
  const list = useStore(toasts);
  return html`
    <div class="toasts" aria-live="polite" role="region" aria-label=${t('toast.region')}>
      ${list.map((x) => html`
        <div class="toast" data-kind=${x.kind} key=${x.id} role=${x.kind === 'error' ? 'alert' : 'status'}>
          <span>${x.message}</span>
          <button type="button" class="icon" aria-label=${t('toast.dismiss')} onClick=${() => dismiss(x.id)}>×</button>
        </div>`)}
    </div>`;
}
