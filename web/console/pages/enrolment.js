// Enrolment of new agents (admins): an enrolment token (POST /api/enrolment-tokens: shown once), the site CA's
// fingerprint, and the one-line install command for a PC (edge/agent/README.md: a venv, the agent package,
// `classtop-agent install`, then `enrol <this LMS> <token> --ca-hash <fingerprint>`); the tokens made so far and
// the agents that enrolled.
import { html, useState } from '../../common/html.js';
import { fmtTime, t } from '../../common/i18n.js';
import { DataTable } from '../../common/components/table.js';
import { ErrorBox } from '../../common/components/misc.js';
import { Form } from '../../common/components/form.js';
import { toast } from '../../common/components/toast.js';
import { useLoad } from '../../common/hooks.js';
import { api } from '../session.js';

const VENV = '/opt/classtop-agent/venv';
// only characters that need no quoting in a shell (what the LMS makes: cta_ + URL-safe base64; sha256:<hex>)
const SAFE_TOKEN = /^[A-Za-z0-9_-]{8,512}$/;
const SAFE_HASH = /^sha256:[0-9a-f]{64}$/;

export function installCommand(origin, token, caHash) {
  if (!SAFE_TOKEN.test(token) || !/^https?:\/\/[A-Za-z0-9.:[\]-]+$/.test(origin)) return null;
  const pin = caHash && SAFE_HASH.test(caHash) ? ` --ca-hash ${caHash}` : '';
  return `python3 -m venv ${VENV} && ${VENV}/bin/pip install classtop_agent-*.whl && ${VENV}/bin/classtop-agent install`
    + ` && ${VENV}/bin/classtop-agent enrol ${origin} ${token}${pin}`;
}

async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
    toast(t('enrol.copied'));
  } catch {
    toast(t('enrol.copy_failed'), 'error');
  }
}

export function Enrolment() {
  const list = useLoad(() => api.get('/api/enrolment-tokens'), []);
  const [made, setMade] = useState(null);
  const data = list.data;
  const command = made && installCommand(window.location.origin, made.token, made.ca_hash);
  return html`
    <h1>${t('enrol.title')}</h1>
    <p class="muted">${t('enrol.help')}</p>
    <${ErrorBox} error=${list.error} />
    ${data && html`<p id="ca-hash">${t('enrol.ca_hash')} <code>${data.ca_hash || t('enrol.no_ca')}</code></p>`}
    <section aria-labelledby="enrol-new-h">
      <h2 id="enrol-new-h">${t('enrol.create')}</h2>
      <${Form} id="enrol-create" submitLabel=${t('enrol.create')} fields=${[
        { name: 'hours', label: t('enrol.hours'), type: 'int', required: true, min: 1, max: 8760, initial: '24' },
        { name: 'max_uses', label: t('enrol.max_uses'), type: 'int', required: true, min: 1, max: 100000, initial: '1', hint: t('enrol.max_uses_hint') },
        { name: 'note', label: t('enrol.note'), type: 'text', maxLength: 200 },
      ]} onSubmit=${async (v) => {
        setMade(await api.post('/api/enrolment-tokens', { ttl_s: v.hours * 3600, max_uses: v.max_uses, ...(v.note ? { note: v.note } : {}) }));
        list.reload();
      }} />
      ${made && html`<div class="note" id="enrol-made" role="status">
        <p>${t('enrol.shown_once', { expires: fmtTime(made.expires_at), uses: made.max_uses })}</p>
        <p>${t('enrol.token')} <code id="enrol-token">${made.token}</code></p>
        <p>${t('enrol.ca_hash')} <code id="enrol-ca-hash">${made.ca_hash || t('enrol.no_ca')}</code></p>
        <p>${t('enrol.command_help')}</p>
        ${command ? html`<pre id="enrol-command">${command}</pre>
          <button type="button" id="enrol-copy" onClick=${() => copy(command)}>${t('enrol.copy')}</button>` : html`<p>${t('enrol.no_command')}</p>`}
      </div>`}
    </section>
    <section aria-labelledby="enrol-tokens-h">
      <h2 id="enrol-tokens-h">${t('enrol.tokens')}</h2>
      <${DataTable} id="enrol-tokens" caption=${t('enrol.tokens')} rows=${data && data.tokens} rowKey=${(k) => String(k.id)}
        initialSort=${{ key: 'id', dir: -1 }} columns=${[
          { key: 'id', label: '#', value: (k) => k.id },
          { key: 'note', label: t('enrol.note'), value: (k) => k.note || '' },
          { key: 'created_at', label: t('tokens.created'), value: (k) => k.created_at, render: (k) => html`${fmtTime(k.created_at)} <span class="muted">${k.created_by || ''}</span>` },
          { key: 'expires_at', label: t('enrol.expires'), value: (k) => k.expires_at, render: (k) => fmtTime(k.expires_at) },
          { key: 'uses', label: t('enrol.uses'), value: (k) => k.uses, render: (k) => `${k.uses} / ${k.max_uses}` },
        ]} />
    </section>
    <section aria-labelledby="enrolled-h">
      <h2 id="enrolled-h">${t('enrol.enrolled')}</h2>
      <${DataTable} id="enrolled" caption=${t('enrol.enrolled')} rows=${data && data.enrollments} rowKey=${(e) => e.agent_id}
        columns=${[
          { key: 'agent_id', label: t('agent.id'), render: (e) => html`<a href=${`#/agents/${encodeURIComponent(e.agent_id)}`}>${e.agent_id}</a>` },
          { key: 'hostname', label: t('agent.hostname') },
          { key: 'token_id', label: t('enrol.token_id'), value: (e) => e.token_id },
          { key: 'enrolled_at', label: t('enrol.enrolled_at'), value: (e) => e.enrolled_at, render: (e) => fmtTime(e.enrolled_at) },
          { key: 'revoked_at', label: t('tokens.revoked'), value: (e) => e.revoked_at, render: (e) => fmtTime(e.revoked_at) },
        ]} />
    </section>`;
}
