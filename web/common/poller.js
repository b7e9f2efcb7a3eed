// Polling that costs little when nothing changed: each poll sends the last ETag (If-None-Match; a 304 is not
// handed on), a `since` cursor when the fetcher keeps one, runs at the user's interval (5/10/15/30 s,
// remembered), pauses while the page is hidden, and on failure retries with exponential backoff. Every poller
// reports to `connection`, which the connection indicator shows.
import { createStore, saved } from './store.js';

export const INTERVALS = [5, 10, 15, 30];
const KEY = 'ct.interval';
const MAX_BACKOFF_S = 300;

const storedInterval = Number(saved.get(KEY, 10));
export const interval = createStore(INTERVALS.includes(storedInterval) ? storedInterval : 10);

export function setPollInterval(s) {
  if (!INTERVALS.includes(Number(s))) return;
  saved.set(KEY, Number(s));
  interval.set(Number(s));
}

// {lastOk: ms|null, lastFail: ms|null, failures: n, error: string|null, retryAt: ms|null}
export const connection = createStore({ lastOk: null, lastFail: null, failures: 0, error: null, retryAt: null });

// The delay before the next poll after `failures` consecutive failures.
export function backoffDelayS(intervalS, failures) {
  if (failures <= 0) return intervalS;
  return Math.min(intervalS * 2 ** failures, MAX_BACKOFF_S);
}

export class Poller {
  // poll: async ({etag, since}) => {notModified, data, etag, since}; onData(data); onError(err)
  constructor({ poll, onData, onError = () => {} }) {
    this.pollFn = poll;
    this.onData = onData;
    this.onError = onError;
    this.etag = null;
    this.since = null;
    this.failures = 0;
    this.timer = null;
    this.stopped = true;
    this.running = false;
    this.onVisible = () => {
      if (!document.hidden && !this.stopped && !this.running) this.now();
    };
    this.unsubscribe = null;
  }

  start() {
    if (!this.stopped) return this;
    this.stopped = false;
    document.addEventListener('visibilitychange', this.onVisible);
    this.unsubscribe = interval.subscribe(() => this.schedule());
    this.now();
    return this;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    document.removeEventListener('visibilitychange', this.onVisible);
    if (this.unsubscribe) this.unsubscribe();
  }

  // Poll right away (after an action that changed something), then on schedule.
  async now() {
    clearTimeout(this.timer);
    if (this.stopped) return;
    this.running = true;
    try {
      const answer = await this.pollFn({ etag: this.etag, since: this.since });
      if (this.stopped) return;
      this.failures = 0;
      if (answer && answer.etag) this.etag = answer.etag;
      if (answer && answer.since !== undefined) this.since = answer.since;
      connection.set((c) => ({ ...c, lastOk: Date.now(), failures: 0, error: null, retryAt: null }));
      if (!answer || !answer.notModified) this.onData(answer ? answer.data : undefined);
    } catch (err) {
      if (this.stopped) return;
      this.failures += 1;
      const delay = backoffDelayS(interval.get(), this.failures);
      connection.set((c) => ({ ...c, lastFail: Date.now(), failures: this.failures, error: err && err.message,
        retryAt: Date.now() + delay * 1000 }));
      this.onError(err);
    } finally {
      this.running = false;
      this.schedule();
    }
  }

  schedule() {
    clearTimeout(this.timer);
    if (this.stopped) return;
    const delay = backoffDelayS(interval.get(), this.failures);
    this.timer = setTimeout(() => {
      if (document.hidden) return; // resumed by visibilitychange
      this.now();
    }, delay * 1000);
  }
}
