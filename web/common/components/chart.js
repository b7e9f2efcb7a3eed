// Charts: a uPlot wrapper (time on x, one or more series), redrawn on resize, theme or language change, and
// the hour / day / week range picker. An empty series still draws its axes and says there is no data. Every label
// follows the language: the legend's time column and its values, the time axis's ticks (Intl, 24-hour in zh-CN;
// uPlot's own are English: "Time", "3pm") and the series' labels (given translated by the caller).
import uPlot from '../../vendor/uplot-1.6.32/uPlot.esm.js';
import { html, useEffect, useRef } from '../html.js';
import { fmtTime, lang, t } from '../i18n.js';
import { cssVar, theme } from '../theme.js';

export const RANGES = { hour: 3600, day: 86400, week: 7 * 86400 };
const RANGE_LABEL = { hour: () => t('chart.hour'), day: () => t('chart.day'), week: () => t('chart.week') };

export function RangePicker({ value, onChange, id }) {
  return html`
    <div class="range" role="group" aria-label=${t('chart.range')} id=${id}>
      ${Object.keys(RANGES).map((r) => html`
        <button type="button" data-range=${r} aria-pressed=${value === r ? 'true' : 'false'} onClick=${() => onChange(r)}>
          ${RANGE_LABEL[r]()}</button>`)}
    </div>`;
}

// A rate in bytes per second with a unit that scales: 512 B/s, 12.5 KB/s, 3.4 MB/s, 1.2 GB/s (KB = 1,000 bytes).
export function fmtRate(bps) {
  if (bps === null || bps === undefined || !Number.isFinite(bps)) return '—';
  const units = ['B/s', 'KB/s', 'MB/s', 'GB/s'];
  let v = Math.abs(bps);
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i += 1;
  }
  const digits = v === 0 || v >= 100 || Number.isInteger(v) ? 0 : v >= 10 ? 1 : 2;
  return `${Number(v.toFixed(digits)).toLocaleString(lang.get())} ${units[i]}`;
}

// a tick of the time axis in the current language: the time of day, or the date at midnight (week ranges)
function fmtTick(ts, withDate) {
  const d = new Date(ts * 1000);
  const midnight = d.getHours() === 0 && d.getMinutes() === 0;
  const opts = withDate && midnight ? { month: 'numeric', day: 'numeric' } : { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' };
  return new Intl.DateTimeFormat(lang.get(), opts).format(d);
}

// x: epoch seconds; series: [{label, values, unit}]; yMax: fixed upper bound (e.g. 100 for percent), else the axis
// starts at 0 and fits the data; format: how a value reads in the legend and on the y axis (default: 1 decimal +
// the series' unit)
export function Chart({ id, title, x, series, height = 200, yMax, range, format }) {
  const box = useRef(null);
  const plot = useRef(null);
  const empty = !x || x.length === 0;
  useEffect(() => {
    const el = box.current;
    if (!el) return undefined;
    let live = true; // a redraw queued by a theme or language change is dropped once these props are replaced
    const later = () => requestAnimationFrame(() => live && draw());
    const draw = () => {
      if (plot.current) plot.current.destroy();
      const colors = [cssVar('--chart-1'), cssVar('--chart-2'), cssVar('--chart-3'), cssVar('--chart-4')];
      const axis = { stroke: cssVar('--fg-muted'), grid: { stroke: cssVar('--border') }, ticks: { stroke: cssVar('--border') } };
      const now = Date.now() / 1000;
      const xs = empty ? [now - (RANGES[range] || 3600), now] : x;
      const data = [xs, ...series.map((s) => (empty ? [null, null] : s.values))];
      const opts = {
        width: Math.max(240, el.clientWidth),
        height,
        title: undefined,
        tzDate: (ts) => new Date(ts * 1000),
        scales: { x: { time: true }, y: yMax ? { range: [0, yMax] } : { range: (u, lo, hi) => [0, hi > 0 ? hi * 1.1 : 1] } },
        axes: [
          { ...axis, values: (u, splits) => splits.map((ts) => fmtTick(ts, (xs[xs.length - 1] - xs[0]) > 2 * 86400)) },
          { ...axis, size: format ? 72 : 48, ...(format ? { values: (u, splits) => splits.map((v) => format(v)) } : {}) },
        ],
        legend: { show: true },
        series: [{ label: t('chart.time'), value: (u, ts) => (ts === null || ts === undefined ? '—' : fmtTime(ts)) },
          ...series.map((s, i) => ({ label: s.label, stroke: colors[i % colors.length], width: 2, spanGaps: false,
            value: (u, v) => (v === null || v === undefined ? '—' : format ? format(v) : `${v.toFixed(1)}${s.unit || ''}`) }))],
      };
      plot.current = new uPlot(opts, data, el);
    };
    draw();
    const ro = new ResizeObserver(() => {
      if (plot.current && Math.abs(plot.current.width - el.clientWidth) > 8) plot.current.setSize({ width: Math.max(240, el.clientWidth), height });
    });
    ro.observe(el);
    const offTheme = theme.subscribe(later);
    const offLang = lang.subscribe(later);
    return () => {
      live = false;
      ro.disconnect();
      offTheme();
      offLang();
      if (plot.current) plot.current.destroy();
      plot.current = null;
    };
  }, [x, series, height, yMax, range, format]);
  // data-filled: how many x positions have a value in some series (data-points counts the gaps' positions too)
  const filled = empty ? 0 : x.filter((_, i) => series.some((s) => s.values[i] !== null && s.values[i] !== undefined)).length;
  return html`
    <figure class="chart" id=${id} data-points=${empty ? 0 : x.length} data-filled=${filled}>
      <figcaption>${title}</figcaption>
      <div class="chart-box" ref=${box}></div>
      ${empty && html`<p class="chart-empty">${t('chart.no_data')}</p>`}
    </figure>`;
}
