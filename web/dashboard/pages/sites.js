// Sites: the list, one site's detail (LMS version, health, last heartbeat, link state, agents), enrolment of a
// new site (a one-time token and the technician's numbered steps; admin) and removal (retire; admin).
import { html, useEffect, useState } from '../../common/html.js';
import { fmtAgo, fmtTime, t } from '../../common/i18n.js';
import { usePoll } from '../../common/hooks.js';
import { apiBase } from '../../common/api.js';
import { DataTable } from '../../common/components/table.js';
import { Form } from '../../common/components/form.js';
import { confirmDialog } from '../../common/components/dialog.js';
import { toast } from '../../common/components/toast.js';
import { ErrorBox, KeyValues, Pill } from '../../common/components/misc.js';
import { api, can } from '../session.js';
import { agentHref, approvalLabel, heartbeatFresh, ID, learnStaleAfter, LinkPill, PresencePill, percent, siteHref } from '../format.js';
import { pollOverview } from './overview.js';

// A site's link by its heartbeat's age against the silence the cloud allows that site (`stale_after_s`: longer for
// an LMS with a longer full-heartbeat period); the overview's figure for a listing without one (an older cloud).
const linkUp = (s) => heartbeatFresh(s.last_heartbeat, Date.now() / 1000,
  typeof s.stale_after_s === 'number' ? s.stale_after_s : undefined);

// The cloud's `stale_after_s`, from the overview's answer (its object in S3, or `/api/overview`) when this tab has not
// seen one yet: asked once, then the page renders again.
function useStaleAfter() {
  const [known, setKnown] = useState(learnStaleAfter(null));
  useEffect(() => {
    if (known !== null) return;
    pollOverview({}).then((answer) => setKnown(learnStaleAfter(answer && answer.data))).catch(() => {});
  }, []);
  return known;
}

function Enrol({ onDone }) {
  const [issued, setIssued] = useState(null);
  if (issued) {
    const apiUrl = apiBase() || window.location.origin;
    return html`<section class="card" id="enrol-result">
      <h2>${t('enrol.issued', { name: issued.name })}</h2>
      <p>${t('enrol.token_once')}</p>
      <pre id="enrol-token">${issued.token}</pre>
      <p class="muted">${t('enrol.expires', { at: fmtTime(issued.expires_at) })}</p>
      <h3>${t('enrol.steps_title')}</h3>
      <ol id="enrol-steps">
        <li>${t('enrol.step1')}</li>
        <li>${t('enrol.step2')}<pre>${`CLASSTOP_CLOUD_API=${apiUrl}\nCLASSTOP_IOT_ENDPOINT=<${t('enrol.iot_endpoint')}>\nCLASSTOP_ENROLMENT_TOKEN=${issued.token}`}</pre></li>
        <li>${t('enrol.step3')}<pre>docker compose -f infra/lms/compose.yaml up -d</pre></li>
        <li>${t('enrol.step4')}<pre>docker compose -f infra/lms/compose.yaml logs lms</pre></li>
        <li>${t('enrol.step5', { site: issued.site_id || '…' })}</li>
      </ol>
      <button type="button" onClick=${() => { setIssued(null); onDone(); }}>${t('enrol.done')}</button>
    </section>`;
  }
  return html`<section class="card" id="enrol">
    <h2>${t('enrol.title')}</h2>
    <${Form} id="enrol-form" submitLabel=${t('enrol.submit')} fields=${[
      { name: 'name', label: t('enrol.name'), required: true, maxLength: 128, hint: t('enrol.name_hint') },
      { name: 'site_id', label: t('enrol.site_id'), maxLength: 64, pattern: ID, patternMessage: 'form.bad_id', hint: t('enrol.site_id_hint') },
      { name: 'ttl_h', label: t('enrol.ttl_h'), type: 'int', min: 1, max: 720, initial: '24' },
    ]} onSubmit=${async (v) => {
      const body = { name: v.name, ttl_s: (v.ttl_h || 24) * 3600 };
      if (v.site_id) body.site_id = v.site_id;
      setIssued(await api.post('/api/enrolments', body));
    }} secondary=${html`<button type="button" onClick=${onDone}>${t('dialog.cancel')}</button>`} />
  </section>`;
}

export function Sites() {
  useStaleAfter();
  const { data, error, refresh } = usePoll(api, '/api/lms', { limit: 500 });
  const [enrolling, setEnrolling] = useState(false);
  const rows = data ? data.sites : undefined;
  return html`
    <div class="row page-head"><h1>${t('sites.title')}</h1>
      ${can('admin') && !enrolling && html`<button type="button" class="primary" id="enrol-open" onClick=${() => setEnrolling(true)}>${t('enrol.open')}</button>`}
    </div>
    <${ErrorBox} error=${error} />
    ${enrolling && html`<${Enrol} onDone=${() => { setEnrolling(false); refresh(); }} />`}
    <${DataTable} id="sites-table" caption=${t('sites.title')} rows=${rows} rowKey=${(s) => s.site_id}
      onRow=${(s) => { window.location.hash = siteHref(s.site_id); }}
      filters=${[{ key: 'approval', label: t('site.approval'), options: ['approved', 'pending', 'rejected'].map((a) => ({ value: a, label: approvalLabel(a) })) }]}
      columns=${[
        { key: 'name', label: t('site.name'), render: (s) => html`<a href=${siteHref(s.site_id)}>${s.name || s.site_id}</a>` },
        { key: 'site_id', label: t('site.id') },
        { key: 'online_count', label: t('site.online'), value: (s) => s.online_count, render: (s) => `${s.online_count ?? 0} / ${s.agent_count ?? 0}` },
        { key: 'link', label: t('site.link'), value: (s) => (linkUp(s) ? 1 : 0), render: (s) => html`<${LinkPill} ok=${linkUp(s)} />` },
        { key: 'last_heartbeat', label: t('site.last_heartbeat'), render: (s) => fmtAgo(s.last_heartbeat) },
        { key: 'lms_version', label: t('site.lms_version') },
        { key: 'approval', label: t('site.approval'), render: (s) => approvalLabel(s.approval) },
      ]} />`;
}

export function SiteDetail({ id }) {
  useStaleAfter();
  const site = usePoll(api, `/api/lms/${encodeURIComponent(id)}`);
  const agents = usePoll(api, '/api/agents', { site_id: id, limit: 500 });
  const stats = usePoll(api, `/api/stats/sites/${encodeURIComponent(id)}`);
  const s = site.data;
  const st = stats.data || {};
  const remove = async () => {
    const ok = await confirmDialog({ title: t('site.remove_title', { site: id }), message: t('site.remove_message'), confirmLabel: t('site.remove'), danger: true });
    if (!ok) return;
    try {
      await api.post(`/api/lms/${encodeURIComponent(id)}/retire`, { reason: 'removed from the dashboard' });
      toast(t('site.removed', { site: id }), 'ok');
      window.location.hash = '#/sites';
    } catch (err) {
      toast(err.message, 'error');
    }
  };
  const approve = async () => {
    try {
      await api.post(`/api/lms/${encodeURIComponent(id)}/approve`);
      toast(t('site.approved', { site: id }), 'ok');
      site.refresh();
    } catch (err) {
      toast(err.message, 'error');
    }
  };
  return html`
    <p><a href="#/sites">← ${t('sites.title')}</a></p>
    <div class="row page-head"><h1 id="site-title">${(s && s.name) || id}</h1>
      ${s && html`<${LinkPill} ok=${linkUp(s)} />`}
      ${can('admin') && s && s.approval === 'pending' && html`<button type="button" id="site-approve" onClick=${approve}>${t('site.approve')}</button>`}
      ${can('admin') && s && !s.retired_at && html`<button type="button" class="danger" id="site-remove" onClick=${remove}>${t('site.remove')}</button>`}
    </div>
    <${ErrorBox} error=${site.error} />
    ${s && html`<section class="card"><${KeyValues} id="site-facts" items=${[
      [t('site.id'), s.site_id],
      [t('site.lms_version'), s.lms_version || s.version],
      [t('site.last_heartbeat'), `${fmtTime(s.last_heartbeat)} (${fmtAgo(s.last_heartbeat)})`],
      [t('site.host'), s.host ? `${s.host}:${s.port}` : null],
      [t('site.approval'), approvalLabel(s.approval)],
      [t('site.online'), `${s.online_count ?? 0} / ${s.agent_count ?? 0}`],
      [t('site.registered'), fmtTime(s.registered_at)],
      [t('site.certs_expiring'), (s.certificates_expiring || []).length ? (s.certificates_expiring || []).join(', ') : t('site.none')],
      [t('overview.success_rate'), percent(st.commands && st.commands.success_rate)],
      s.retired_at ? [t('site.retired'), fmtTime(s.retired_at)] : null,
    ]} /></section>`}
    <h2>${t('nav.agents')}</h2>
    <${DataTable} id="site-agents" caption=${t('nav.agents')} rows=${agents.data ? agents.data.agents : undefined} rowKey=${(a) => a.agent_id}
      onRow=${(a) => { window.location.hash = agentHref(a.agent_id); }}
      columns=${[
        { key: 'agent_id', label: t('agent.id'), render: (a) => html`<a href=${agentHref(a.agent_id)}>${a.agent_id}</a>` },
        { key: 'status', label: t('agent.status'), render: (a) => html`<${PresencePill} status=${a.status} />` },
        { key: 'kind', label: t('agent.kind') },
        { key: 'hostname', label: t('agent.hostname') },
        { key: 'version', label: t('agent.version') },
        { key: 'last_seen', label: t('agent.last_seen'), render: (a) => fmtAgo(a.last_seen) },
      ]} />
    ${s && s.approval && s.approval !== 'approved' && html`<p><${Pill} tone="warn">${approvalLabel(s.approval)}<//></p>`}`;
}
