// The site's open alerts (docs/alerts.md) as a banner above every page: the most severe first, each with where and
// why; operators acknowledge one (POST /api/alerts/{id}/acknowledge), viewers see no button. The list is polled
// (GET /api/alerts?state=open) at the user's interval; an `alert` change on the push channel reads it at once.
import { html, useState } from '../common/html.js';
import { fmtAgo, t } from '../common/i18n.js';
import { usePoll } from '../common/hooks.js';
import { toast } from '../common/components/toast.js';
import { api, can } from './session.js';
import { useLive } from './live.js';

export const SEVERITY_RANK = { critical: 3, error: 2, warning: 1, info: 0 };
const SHOWN = 5;
const SEVERITY = { critical: () => t('alerts.severity_critical'), error: () => t('alerts.severity_error'),
  warning: () => t('alerts.severity_warning'), info: () => t('alerts.severity_info') };

export function ordered(alerts) {
  return [...alerts].sort((a, b) => (SEVERITY_RANK[b.severity] ?? 0) - (SEVERITY_RANK[a.severity] ?? 0)
    || b.opened_at - a.opened_at);
}

function where(a) {
  const target = a.target || {};
  if (target.camera_id) return t('alerts.on_camera', { agent: target.agent_id, camera: target.camera_id });
  if (target.agent_id) return t('alerts.on_agent', { agent: target.agent_id });
  return t('alerts.on_site');
}

export function AlertsBanner() {
  const open = usePoll(api, '/api/alerts', { state: 'open', limit: 200 });
  const [busy, setBusy] = useState(null);
  useLive((kind) => {
    if (kind === 'alert' || kind === 'resync') open.refresh();
  }, []);
  const alerts = ordered((open.data && open.data.alerts) || []);
  if (!alerts.length) return null;
  const top = alerts[0].severity;
  const acknowledge = async (a) => {
    setBusy(a.alert_id);
    try {
      await api.post(`/api/alerts/${encodeURIComponent(a.alert_id)}/acknowledge`);
      toast(t('alerts.acknowledged_done', { name: a.rule_name }));
      open.refresh();
    } catch (err) {
      toast(err.message, 'error');
    } finally {
      setBusy(null);
    }
  };
  return html`
    <section id="alerts-banner" class=${`banner ${top}`} data-severity=${top} aria-labelledby="alerts-h" role="region">
      <h2 id="alerts-h">${t('alerts.title', { n: alerts.length })}</h2>
      <ul>
        ${alerts.slice(0, SHOWN).map((a) => html`<li key=${a.alert_id} data-alert=${a.alert_id} data-state=${a.state}>
          <strong class="sev">${SEVERITY[a.severity] ? SEVERITY[a.severity]() : a.severity}</strong>
          <span class="what">${a.rule_name}</span> · <span>${where(a)}</span>${a.message && html` · <span>${a.message}</span>`}
          <span class="muted"> · ${fmtAgo(a.opened_at)}</span>
          ${a.state === 'acknowledged'
            ? html` <span class="muted ack">${t('alerts.acknowledged_by', { who: a.acknowledged_by || '' })}</span>`
            : can('operator') && html` <button type="button" class="ack" data-action="acknowledge" disabled=${busy === a.alert_id}
                onClick=${() => acknowledge(a)}>${t('alerts.acknowledge')}</button>`}
        </li>`)}
      </ul>
      ${alerts.length > SHOWN && html`<p class="muted" id="alerts-more">${t('alerts.more', { n: alerts.length - SHOWN })}</p>`}
    </section>`;
}
