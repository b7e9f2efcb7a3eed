// The connection indicator: when the last poll succeeded or failed, the retry, and the poll interval picker.
import { html, useEffect, useState } from '../html.js';
import { fmtAgo, t } from '../i18n.js';
import { connection, interval, INTERVALS, setPollInterval } from '../poller.js';
import { useStore } from '../hooks.js';

export function ConnectionIndicator() {
  const c = useStore(connection);
  const every = useStore(interval);
  const [, tick] = useState(0);
  useEffect(() => {
    const id = setInterval(() => tick((x) => x + 1), 1000);
    return () => clearInterval(id);
  }, []);
  const failing = c.failures > 0;
  const state = failing ? 'failing' : c.lastOk ? 'ok' : 'waiting';
  let text;
  if (failing) {
    text = t('conn.failed', { ago: fmtAgo(c.lastFail / 1000), retry: fmtAgo(c.retryAt / 1000) });
  } else if (c.lastOk) {
    text = t('conn.ok', { ago: fmtAgo(c.lastOk / 1000) });
  } else {
    text = t('conn.waiting');
  }
  return html`
    <div class="conn" data-state=${state}>
      <span class="conn-dot" aria-hidden="true"></span>
      <span id="conn-text" role="status" aria-live="polite" title=${c.error || ''}>${text}</span>
      <label class="conn-interval">
        <span>${t('conn.interval')}</span>
        <select id="poll-interval" value=${String(every)} onChange=${(e) => setPollInterval(e.target.value)}>
          ${INTERVALS.map((s) => html`<option value=${String(s)}>${t('conn.seconds', { n: s })}</option>`)}
        </select>
      </label>
    </div>`;
}
