// Dashboard-wide presentation helpers: status pills, links, command states.
import { html } from '../common/html.js';
import { t } from '../common/i18n.js';
import { Pill } from '../common/components/misc.js';

// How long a site may be silent and still count as reporting: the cloud's figure, as its overview answer carries
// it (`stale_after_s`); null until an answer has told it (the dashboard keeps no copy of its own).
let staleAfterS = null;

// Remember `stale_after_s` from an overview answer (if it has one); -> the figure known now (or null).
export function learnStaleAfter(answer) {
  const value = answer && answer.stale_after_s;
  if (typeof value === 'number' && value > 0) staleAfterS = value;
  return staleAfterS;
}

// A site's link judged by its heartbeat's age against the cloud's figure: true/false, null when unknown.
export function heartbeatFresh(lastHeartbeat, nowS = Date.now() / 1000, staleAfter = staleAfterS) {
  if (typeof lastHeartbeat !== 'number' || !lastHeartbeat || typeof staleAfter !== 'number') return null;
  return nowS - lastHeartbeat <= staleAfter;
}

export function presenceLabel(status) {
  return { online: t('status.online'), offline: t('status.offline'), unknown: t('status.unknown') }[status] || status || t('status.unknown');
}

export function PresencePill({ status }) {
  const tone = { online: 'ok', offline: 'bad' }[status] || 'muted';
  return html`<${Pill} tone=${tone}>${presenceLabel(status)}<//>`;
}

export function commandStateLabel(state) {
  return {
    pending: t('cmd.state.pending'), queued: t('cmd.state.queued'), delivered: t('cmd.state.delivered'),
    running: t('cmd.state.running'), succeeded: t('cmd.state.succeeded'), failed: t('cmd.state.failed'),
    timed_out: t('cmd.state.timed_out'), expired: t('cmd.state.expired'), rejected: t('cmd.state.rejected'),
  }[state] || state || '—';
}

export function CommandPill({ state }) {
  const tone = { succeeded: 'ok', failed: 'bad', timed_out: 'bad', expired: 'bad', rejected: 'bad' }[state] || 'warn';
  return html`<${Pill} tone=${tone}>${commandStateLabel(state)}<//>`;
}

export const FINISHED = new Set(['succeeded', 'failed', 'timed_out', 'expired', 'rejected']);

export function LinkPill({ ok }) {
  if (ok === null || ok === undefined) return html`<${Pill} tone="muted">${t('status.unknown')}<//>`;
  return ok ? html`<${Pill} tone="ok">${t('site.link_up')}<//>` : html`<${Pill} tone="bad">${t('site.link_down')}<//>`;
}

export function agentHref(id) {
  return `#/agents/${encodeURIComponent(id)}`;
}

export function siteHref(id) {
  return `#/sites/${encodeURIComponent(id)}`;
}

export function percent(x) {
  if (x === null || x === undefined) return '—';
  return `${(Number(x) <= 1 ? Number(x) * 100 : Number(x)).toFixed(1)} %`;
}

export const ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
export const LABEL = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function roleLabel(role) {
  return { admin: t('role.admin'), operator: t('role.operator'), viewer: t('role.viewer') }[role] || role;
}

export function approvalLabel(a) {
  return { approved: t('approval.approved'), pending: t('approval.pending'), rejected: t('approval.rejected') }[a] || a || '—';
}
