// The confirm dialog: a native <dialog> (focus kept inside, Escape cancels). `confirmDialog({...})` resolves
// true on confirm, false on cancel; the host renders whichever is open.
import { html, useEffect, useRef } from '../html.js';
import { t } from '../i18n.js';
import { createStore } from '../store.js';
import { useStore } from '../hooks.js';

const open = createStore(null);

export function confirmDialog({ title, message, confirmLabel, danger = false, detail = '' }) {
  return new Promise((resolve) => {
    open.set({ title, message, confirmLabel, danger, detail, resolve });
  });
}

export function DialogHost() {
  const d = useStore(open);
  const ref = useRef(null);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    if (d && !el.open) el.showModal();
    if (!d && el.open) el.close();
  }, [d]);
  const finish = (answer) => {
    if (d) d.resolve(answer);
    open.set(null);
  };
  return html`
    <dialog ref=${ref} class="confirm" aria-labelledby="confirm-title" onCancel=${(e) => { e.preventDefault(); finish(false); }}>
      ${d && html`
        <form method="dialog" onSubmit=${(e) => { e.preventDefault(); finish(true); }}>
          <h2 id="confirm-title">${d.title}</h2>
          <p>${d.message}</p>
          ${d.detail && html`<pre class="confirm-detail">${d.detail}</pre>`}
          <div class="actions">
            <button type="button" id="confirm-cancel" onClick=${() => finish(false)} autofocus>${t('dialog.cancel')}</button>
            <button type="submit" id="confirm-ok" class=${d.danger ? 'danger' : 'primary'}>${d.confirmLabel || t('dialog.confirm')}</button>
          </div>
        </form>`}
    </dialog>`;
}
