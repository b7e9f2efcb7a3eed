// Charts: a uPlot wrapper (time on x, one or more series), redrawn on resize, theme or language change, and
// the hour / day / week range picker. An empty series still draws its axes and says there is no data.
import uPlot from '../../vendor/uplot-1.6.32/uPlot.esm.js';
import { html, useEffect, useRef } from '../html.js';
import { lang, t } from '../i18n.js';
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

// x: epoch seconds; series: [{label, values, unit}]; yMax: fixed upper bound (e.g. 100 for percent)
export function Chart({ id, title, x, series, height = 200, yMax, range }) {
  const box = useRef(null);
  const plot = useRef(null);
  const empty = !x || x.length === 0;
  useEffect(() => {
    const el = box.current;
    if (!el) return undefined;
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
        fmtDate: (tpl) => uPlot.fmtDate(tpl, lang.get().startsWith('zh') ? { MMM: ['1月','2月','3月','4月','5月','6月','7月','8月','9月','10月','11月','12月'], MMMM: ['一月','二月','三月','四月','五月','六月','七月','八月','九月','十月','十一月','十二月'], WWW: ['周日','周一','周二','周三','周四','周五','周六'], WWWW: ['星期日','星期一','星期二','星期三','星期四','星期五','星期六'] } : undefined),
        scales: { x: { time: true }, y: yMax ? { range: [0, yMax] } : { auto: true } },
        axes: [{ ...axis }, { ...axis, size: 48 }],
        legend: { show: true },
        series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: colors[i % colors.length], width: 2, spanGaps: false,
          value: (u, v) => (v === null || v === undefined ? '—' : `${v.toFixed(1)}${s.unit || ''}`) }))],
      };
      plot.current = new uPlot(opts, data, el);
    };
    draw();
    const ro = new ResizeObserver(() => {
      if (plot.current && Math.abs(plot.current.width - el.clientWidth) > 8) plot.current.setSize({ width: Math.max(240, el.clientWidth), height });
    });
    ro.observe(el);
    const offTheme = theme.subscribe(() => requestAnimationFrame(draw));
    const offLang = lang.subscribe(() => requestAnimationFrame(draw));
    return () => {
      ro.disconnect();
      offTheme();
      offLang();
      if (plot.current) plot.current.destroy();
      plot.current = null;
    };
  }, [x, series, height, yMax, range]);
  return html`
    <figure class="chart" id=${id} data-points=${empty ? 0 : x.length}>
      <figcaption>${title}</figcaption>
      <div class="chart-box" ref=${box}></div>
      ${empty && html`<p class="chart-empty">${t('chart.no_data')}</p>`}
    </figure>`;
}
