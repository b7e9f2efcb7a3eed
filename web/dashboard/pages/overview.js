// Overview: sites with online/offline counts, sites whose LMS or cloud link is down, command success rate,
// sync freshness, recent events; polled straight from S3 (GET /api/overview/feed answers a presigned URL of the
// caller's scope's object, which the minute's pass rewrites when the overview changed: docs/dashboard.md), with
// If-None-Match; a cloud without the feed: GET /api/overview; without that either: /api/stats and /api/lms.
import { html } from '../../common/html.js';
import { fmtAgo, fmtNumber, fmtTime, t } from '../../common/i18n.js';
import { usePollWith } from '../../common/hooks.js';
import { ApiError, isMissingRoute } from '../../common/api.js';
import { DataTable } from '../../common/components/table.js';
import { ErrorBox, Pill } from '../../common/components/misc.js';
import { api, session } from '../session.js';
import { heartbeatFresh, learnStaleAfter, LinkPill, percent, siteHref } from '../format.js';

const num = (...xs) => {
  for (const x of xs) if (typeof x === 'number' && !Number.isNaN(x)) return x;
  return null;
};

// Whatever shape the overview has, the page reads these fields (missing ones show as "—").
export function normalizeOverview(raw, nowS = Date.now() / 1000) {
  const o = raw || {};
  const staleAfter = learnStaleAfter(o); // the cloud's figure (an answer without one: the last one told, or unknown)
  const sites = (Array.isArray(o.sites) ? o.sites : (o.sites && o.sites.items) || []).map((s) => {
    const online = num(s.online, s.online_count, s.agents && s.agents.online) ?? 0;
    const total = num(s.agents_total, s.agent_count, s.agents && s.agents.total);
    const offline = num(s.offline, s.offline_count, s.agents && s.agents.offline) ?? (total !== null ? Math.max(0, total - online) : 0);
    const hb = num(s.last_heartbeat);
    const linkUp = s.link_up ?? s.link_ok ?? (s.link ? s.link === 'up' : heartbeatFresh(hb, nowS, staleAfter));
    // the cloud's lms_up is null while the link is down (the LMS behind it unknown): kept, so the page says "link down"
    const lmsUp = s.lms_up !== undefined ? s.lms_up : s.lms_ok ?? (s.lms ? s.lms === 'up' : linkUp);
    return { site_id: s.site_id, name: s.name || s.site_id, online, offline, last_heartbeat: hb, link_up: linkUp, lms_up: lmsUp };
  });
  const cmd = o.commands || {};
  const rawSync = o.sync || o.sync_freshness || o.clients || {};
  // the cloud nests the ClassTop clients' freshness under sync.clients: one flat list of figures for the card
  const nested = rawSync.clients && typeof rawSync.clients === 'object' ? rawSync.clients : {};
  const sync = { ...Object.fromEntries(Object.entries(rawSync).filter(([, v]) => v === null || typeof v !== 'object')), ...nested };
  if (typeof sync.oldest_heartbeat_age_s === 'number') sync.oldest_heartbeat_age_s = Math.round(sync.oldest_heartbeat_age_s);
  // the overview's object carries no ages (they move with the clock, not with its content): computed here
  else if ('sites_reporting' in sync && !('oldest_heartbeat_age_s' in sync)) {
    const beats = sites.map((s) => s.last_heartbeat).filter((hb) => hb !== null);
    sync.oldest_heartbeat_age_s = beats.length ? Math.max(0, Math.round(nowS - Math.min(...beats))) : null;
  }
  return {
    sites,
    down: sites.filter((s) => s.link_up === false || s.lms_up === false),
    online: sites.reduce((n, s) => n + s.online, 0),
    offline: sites.reduce((n, s) => n + s.offline, 0),
    successRate: num(cmd.success_rate, o.command_success_rate),
    finished: num(cmd.finished),
    failed: num(cmd.failed),
    sync,
    events: Array.isArray(o.events) ? o.events : Array.isArray(o.recent_events) ? o.recent_events : [],
    // when the answer was made; with refresh_s (the object of the minute's pass): when its content last changed
    generatedAt: num(o.generated_at),
    refreshS: num(o.refresh_s),
  };
}

// The caller's URL of its overview object (docs/security.md: a bearer capability for its scope until it expires):
// asked again `refresh_after` (before it expires) and once on a 403 or 404 (expired, or the credentials that signed
// it did); forgotten whenever the session changes, so a later caller in this tab never polls an earlier one's URL.
// `unavailable`: the cloud has no feed (or the caller's scope gets no object).
const feed = { url: null, refreshAfter: 0, unavailable: false };
session.subscribe(() => Object.assign(feed, { url: null, refreshAfter: 0, unavailable: false }));

async function feedLink(fresh) {
  if (!fresh && feed.url && Date.now() / 1000 < feed.refreshAfter) return feed.url;
  let link;
  try {
    link = await api.get('/api/overview/feed');
  } catch (err) {
    if (!isMissingRoute(err) && err.status !== 503) throw err;
    link = null;
  }
  if (!link || !link.url) {
    feed.unavailable = true;
    return null;
  }
  // spread over callers, always before the URL expires
  const early = Math.random() * Math.min(60, Math.max(0, link.expires_at - link.refresh_after) / 2);
  Object.assign(feed, { url: link.url, refreshAfter: link.refresh_after - early });
  return feed.url;
}

// One GET of the object (no credentials: the URL is the capability) -> the poller's answer, or null when the URL no
// longer works (403; 404: the object is not there).
async function fetchObject(url, etag) {
  let res;
  try {
    res = await fetch(url, { headers: etag ? { 'If-None-Match': etag } : {}, cache: 'no-store', credentials: 'omit',
      referrerPolicy: 'no-referrer' });
  } catch (exc) {
    throw new ApiError(0, 'network', String(exc && exc.message));
  }
  if (res.status === 304) return { status: 304, data: undefined, etag, notModified: true };
  if (res.status === 403 || res.status === 404) return null;
  if (!res.ok) throw new ApiError(res.status, 'overview_object', res.statusText);
  return { status: 200, data: await res.json(), etag: res.headers.get('ETag'), notModified: false };
}

// The object's answer, or null (the caller polls /api/overview instead this time): no feed, a URL that keeps
// failing, or no answer at all from S3 (a network error, or a CORS refusal, which the page cannot tell apart).
async function pollFeed({ etag }) {
  const url = !feed.unavailable && (await feedLink(false));
  if (!url) return null;
  try {
    const answer = await fetchObject(url, etag);
    if (answer) return answer;
    const fresh = await feedLink(true);
    return fresh ? await fetchObject(fresh, null) : null;
  } catch (err) {
    if (err.status !== 0) throw err;
    return null;
  }
}

export async function pollOverview({ etag }) {
  const shared = await pollFeed({ etag });
  if (shared) return shared;
  try {
    return await api.request('GET', '/api/overview', { etag });
  } catch (err) {
    if (!isMissingRoute(err)) throw err;
  }
  const [stats, sites] = await Promise.all([api.get('/api/stats'), api.all('/api/lms', 'sites')]);
  return { data: { sites, commands: stats.commands, sync: stats.clients, events: [] } };
}

function Tile({ id, label, value, tone }) {
  return html`<div class="card tile" id=${id} data-tone=${tone || ''}><div class="tile-value">${value}</div><div class="tile-label">${label}</div></div>`;
}

export function Overview() {
  const { data, error } = usePollWith(pollOverview, 'overview');
  const o = normalizeOverview(data);
  const sync = o.sync || {};
  return html`
    <h1>${t('overview.title')}</h1>
    ${o.generatedAt !== null && html`<p class="muted" id="overview-as-of">${o.refreshS !== null
      ? t('overview.changed_at', { at: fmtTime(o.generatedAt), n: fmtNumber(o.refreshS) })
      : t('overview.updated_at', { at: fmtTime(o.generatedAt) })}</p>`}
    <${ErrorBox} error=${error} />
    <div class="grid tiles">
      <${Tile} id="tile-sites" label=${t('overview.sites')} value=${data ? fmtNumber(o.sites.length) : '…'} />
      <${Tile} id="tile-online" label=${t('overview.online')} value=${data ? fmtNumber(o.online) : '…'} tone="ok" />
      <${Tile} id="tile-offline" label=${t('overview.offline')} value=${data ? fmtNumber(o.offline) : '…'} tone=${o.offline ? 'bad' : ''} />
      <${Tile} id="tile-down" label=${t('overview.down')} value=${data ? fmtNumber(o.down.length) : '…'} tone=${o.down.length ? 'bad' : ''} />
      <${Tile} id="tile-success" label=${t('overview.success_rate')} value=${percent(o.successRate)} />
    </div>
    ${o.down.length > 0 && html`<section class="card alert" id="down-sites">
      <h2>${t('overview.down_title')}</h2>
      <ul>${o.down.map((s) => html`<li key=${s.site_id}><a href=${siteHref(s.site_id)}>${s.name}</a> —
        ${s.lms_up === false ? t('overview.lms_down') : t('overview.link_down')} (${t('overview.last_heartbeat')} ${fmtAgo(s.last_heartbeat)})</li>`)}</ul>
    </section>`}
    <h2>${t('overview.per_site')}</h2>
    <${DataTable} id="overview-sites" caption=${t('overview.per_site')} rows=${data ? o.sites : undefined} rowKey=${(s) => s.site_id}
      onRow=${(s) => { window.location.hash = siteHref(s.site_id); }}
      columns=${[
        { key: 'name', label: t('site.name'), render: (s) => html`<a href=${siteHref(s.site_id)}>${s.name}</a>` },
        { key: 'online', label: t('overview.online') },
        { key: 'offline', label: t('overview.offline') },
        { key: 'link_up', label: t('site.link'), render: (s) => html`<${LinkPill} ok=${s.link_up !== false} />` },
        { key: 'last_heartbeat', label: t('site.last_heartbeat'), render: (s) => fmtAgo(s.last_heartbeat) },
      ]} />
    <div class="grid two">
      <section class="card" id="sync-freshness">
        <h2>${t('overview.sync')}</h2>
        ${Object.keys(sync).length === 0 ? html`<p class="empty">${t('overview.no_sync')}</p>` : html`<dl class="kv">
          ${Object.entries(sync).filter(([, v]) => typeof v !== 'object').map(([k, v]) => html`<div key=${k}><dt>${syncLabel(k)}</dt><dd>${v === null ? '—' : typeof v === 'number' ? fmtNumber(v) : String(v)}</dd></div>`)}
        </dl>`}
        <p class="muted">${t('overview.commands_finished', { n: fmtNumber(o.finished ?? 0), failed: fmtNumber(o.failed ?? 0) })}</p>
      </section>
      <section class="card" id="recent-events">
        <h2>${t('overview.events')}</h2>
        ${o.events.length === 0 ? html`<p class="empty">${t('overview.no_events')}</p>` : html`<ul class="events">
          ${o.events.slice(0, 20).map((e, i) => html`<li key=${i}><time>${fmtTime(e.at ?? e.timestamp ?? e.time)}</time>
            <span>${e.site_id || ''} ${e.agent_id || ''}</span> <${Pill}>${e.kind || e.type || e.action || ''}<//> ${e.text || e.message || e.detail || ''}</li>`)}
        </ul>`}
      </section>
    </div>`;
}

function syncLabel(key) {
  return {
    total: t('overview.sync.total'), pending: t('overview.sync.pending'), never: t('overview.sync.never'),
    within_1h: t('overview.sync.within_1h'), within_24h: t('overview.sync.within_24h'), older: t('overview.sync.older'),
    sites_reporting: t('overview.sync.sites_reporting'), oldest_heartbeat_age_s: t('overview.sync.oldest_heartbeat_age_s'),
  }[key] || key;
}
