// The command picker: only commands every selected agent's kind runs (GET /api/commands/catalog), admin-only
// ones only for admins; parameters as a JSON object. Used for one agent and for a batch.
import { html, useState } from '../common/html.js';
import { t } from '../common/i18n.js';
import { Form } from '../common/components/form.js';
import { confirmDialog } from '../common/components/dialog.js';
import { api, can } from './session.js';

let catalogue = null;

export async function loadCatalogue() {
  if (!catalogue) catalogue = (await api.get('/api/commands/catalog')).kinds;
  return catalogue;
}

// the commands all of `kinds` run, that the caller's role may send
export function offered(cat, kinds) {
  const sets = [...new Set(kinds)].map((k) => (cat[k] || []));
  if (!sets.length) return [];
  const names = sets.map((s) => new Set(s.map((c) => c.name)));
  return sets[0].filter((c) => names.every((n) => n.has(c.name)) && (!c.admin_only || can('admin')));
}

export function CommandForm({ id, commands, onRun }) {
  const [result, setResult] = useState(null);
  if (!commands.length) return html`<p class="muted" id=${`${id}-none`}>${t('command.none')}</p>`;
  return html`
    <${Form} id=${id} submitLabel=${t('command.run')} resetOnSuccess=${false} fields=${[
      { name: 'command', label: t('command.command'), type: 'select', required: true,
        options: commands.map((c) => ({ value: c.name, label: `${c.name} — ${c.description}` })) },
      { name: 'params', label: t('command.params'), type: 'json', hint: t('command.params_hint'), maxLength: 8192 },
    ]} onSubmit=${async (v) => {
      const spec = commands.find((c) => c.name === v.command);
      if (spec && spec.admin_only) {
        const ok = await confirmDialog({ title: t('command.confirm_title'), message: t('command.confirm', { command: v.command }),
          confirmLabel: t('command.run'), danger: true, detail: JSON.stringify(v.params || {}) });
        if (!ok) return;
      }
      setResult(await onRun(v.command, v.params || {}));
    }} />
    ${result && html`<div id=${`${id}-result`} class="result">${result}</div>`}`;
}
