// ClassTop clients: the unchanged ClassTop desktop clients that asked to join the site, with their approval state
// (admins approve or reject), and for one client its timetable as a week grid with today's current period and
// its camera preview.
import { html } from '../../common/html.js';
import { fmtAgo, fmtTime, t } from '../../common/i18n.js';
import { DataTable } from '../../common/components/table.js';
import { ErrorBox, KeyValues, Pill } from '../../common/components/misc.js';
import { WeekGrid } from '../../common/components/weekgrid.js';
import { confirmDialog } from '../../common/components/dialog.js';
import { toast } from '../../common/components/toast.js';
import { useLoad } from '../../common/hooks.js';
import { api, can } from '../session.js';
import { useLive } from '../live.js';
import { yesNo } from '../format.js';
import { CameraPreview } from './camera_preview.js';

const APPROVAL = {
  pending: () => ['warn', t('classtop.pending')],
  approved: () => ['ok', t('classtop.approved')],
  rejected: () => ['bad', t('classtop.rejected')],
};
const approval = (c) => (APPROVAL[c.approval] ? APPROVAL[c.approval]() : ['muted', c.approval]);
const POLICY = { open: () => t('classtop.policy_open'), approval: () => t('classtop.policy_approval') };
const link = (uuid) => `#/classtop/${encodeURIComponent(uuid)}`;

function useDecide(reload) {
  return async (c, verdict) => {
    if (verdict === 'reject' && !(await confirmDialog({ title: t('classtop.reject'), danger: true, confirmLabel: t('classtop.reject'),
      message: t('classtop.reject_confirm', { name: c.name || c.uuid }) }))) return;
    try {
      await api.post(`/api/classtop/clients/${encodeURIComponent(c.uuid)}/${verdict === 'reject' ? 'reject' : 'approve'}`);
      toast(verdict === 'reject' ? t('classtop.rejected_done', { name: c.name || c.uuid }) : t('classtop.approved_done', { name: c.name || c.uuid }));
      reload();
    } catch (err) {
      toast(err.message, 'error');
    }
  };
}

function Decide({ client, decide }) {
  if (!can('admin')) return null;
  return html`<span class="row-actions">
    ${client.approval !== 'approved' && html`<button type="button" class="primary" data-action="approve" onClick=${() => decide(client, 'approve')}>${t('classtop.approve')}</button>`}
    ${client.approval !== 'rejected' && html`<button type="button" class="danger" data-action="reject" onClick=${() => decide(client, 'reject')}>${t('classtop.reject')}</button>`}
  </span>`;
}

export function ClassTopClients() {
  const list = useLoad(() => api.get('/api/classtop/clients'), []);
  useLive((kind, data) => {
    if (kind === 'resync' || (kind === 'presence' && data.agent && data.agent.kind === 'legacy')) list.reload();
  }, []);
  const decide = useDecide(list.reload);
  const data = list.data;
  const columns = [
    { key: 'uuid', label: t('classtop.client'), render: (c) => html`<a href=${link(c.uuid)}>${c.uuid}</a>` },
    { key: 'name', label: t('classtop.name') },
    { key: 'approval', label: t('classtop.approval'), value: (c) => approval(c)[1], render: (c) => html`<${Pill} tone=${approval(c)[0]}>${approval(c)[1]}<//>` },
    { key: 'connected', label: t('classtop.connected'), value: (c) => yesNo(c.connected) },
    { key: 'ip_address', label: t('agent.ip') },
    { key: 'last_seen', label: t('agent.last_seen'), value: (c) => c.last_seen, render: (c) => fmtAgo(c.last_seen) },
    { key: 'decided_by', label: t('classtop.decided_by'), value: (c) => c.decided_by || '' },
  ];
  if (can('admin')) columns.push({ key: 'actions', label: t('app.actions'), sortable: false, render: (c) => html`<${Decide} client=${c} decide=${decide} />` });
  return html`
    <h1>${t('classtop.title')}</h1>
    <${ErrorBox} error=${list.error} />
    ${data && html`<p id="classtop-policy" class="muted" data-policy=${data.policy}>${POLICY[data.policy] ? POLICY[data.policy]() : data.policy}</p>`}
    <${DataTable} id="classtop-clients" caption=${t('classtop.title')} rows=${data && data.clients} rowKey=${(c) => c.uuid}
      onRow=${(c) => { window.location.hash = link(c.uuid); }} columns=${columns} empty=${t('classtop.none')}
      filters=${[{ key: 'approval', label: t('classtop.approval'), options: ['pending', 'approved', 'rejected'].map((a) => ({ value: a, label: APPROVAL[a]()[1] })) }]} />`;
}

export function ClassTopClient({ id }) {
  const list = useLoad(() => api.get('/api/classtop/clients'), [id]);
  const courses = useLoad(() => api.get(`/api/clients/${encodeURIComponent(id)}/courses`), [id]);
  const schedule = useLoad(() => api.get(`/api/clients/${encodeURIComponent(id)}/schedule`), [id]);
  const decide = useDecide(() => { list.reload(); courses.reload(); schedule.reload(); });
  useLive((kind, data) => {
    if (kind === 'resync' || (kind === 'presence' && data.agent && data.agent.uuid === id)) list.reload();
  }, [id]);
  const client = list.data && list.data.clients.find((c) => c.uuid === id);
  if (list.error) return html`<${ErrorBox} error=${list.error} />`;
  if (!list.data) return html`<p class="loading">${t('app.loading')}</p>`;
  if (!client) return html`<p><a href="#/classtop">← ${t('nav.classtop')}</a></p><${ErrorBox} error=${t('classtop.unknown', { id })} />`;
  const [tone, word] = approval(client);
  return html`
    <p><a href="#/classtop">← ${t('nav.classtop')}</a></p>
    <h1 id="classtop-title">${client.name || client.uuid} <${Pill} tone=${tone}>${word}<//></h1>
    <${KeyValues} id="classtop-info" items=${[
      [t('classtop.client'), client.uuid], [t('classtop.connected'), yesNo(client.connected)], [t('agent.ip'), client.ip_address],
      [t('agent.first_seen'), fmtTime(client.first_seen)], [t('agent.last_seen'), fmtAgo(client.last_seen)],
      [t('classtop.decided_by'), client.decided_by ? `${client.decided_by} · ${fmtTime(client.decided_at)}` : null],
    ]} />
    <${Decide} client=${client} decide=${decide} />
    ${client.approval !== 'approved' && html`<p class="note" id="classtop-not-approved">${t('classtop.not_approved')}</p>`}
    <section aria-labelledby="timetable-h">
      <h2 id="timetable-h">${t('classtop.timetable')}</h2>
      <${ErrorBox} error=${client.approval === 'approved' && (courses.error || schedule.error)} />
      ${courses.data && schedule.data && html`<${WeekGrid} id="timetable" courses=${courses.data.courses} entries=${schedule.data.schedule_entries} />`}
    </section>
    ${client.approval === 'approved' && html`<section aria-labelledby="preview-h">
      <h2 id="preview-h">${t('preview.title')}</h2>
      <${CameraPreview} uuid=${client.uuid} connected=${client.connected} />
    </section>`}`;
}
