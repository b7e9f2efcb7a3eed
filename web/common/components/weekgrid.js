// The ClassTop timetable as a week grid: Monday to Sunday columns, courses placed by their start and end times,
// today marked and the current period highlighted. courses: [{id, name, teacher, location, color}];
// entries: [{id, course_id, day_of_week 1-7, start_time "HH:MM", end_time, weeks: []}] (weeks [] = every week).
import { html } from '../html.js';
import { lang, t } from '../i18n.js';

// A synced course's colour goes into a style attribute: only #rgb or #rrggbb, anything else means no colour (a
// ClassTop client chooses it, and `red;background:url(...)` must not reach the page's CSS).
const COLOR = /^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/;
export const courseColor = (c) => (typeof c === 'string' && COLOR.test(c) ? c : null);

const minutes = (hhmm) => {
  const m = /^(\d{1,2}):(\d{2})/.exec(hhmm || '');
  return m ? Number(m[1]) * 60 + Number(m[2]) : null;
};

function dayNames() {
  const fmt = new Intl.DateTimeFormat(lang.get(), { weekday: 'short' });
  // 2024-01-01 was a Monday
  return [1, 2, 3, 4, 5, 6, 7].map((d) => fmt.format(new Date(2024, 0, d)));
}

export function WeekGrid({ id, courses = [], entries = [], week = null, now = new Date() }) {
  const byId = new Map(courses.map((c) => [c.id, c]));
  const shown = entries.filter((e) => week === null || !e.weeks || e.weeks.length === 0 || e.weeks.includes(week))
    .filter((e) => minutes(e.start_time) !== null && minutes(e.end_time) !== null);
  if (shown.length === 0) return html`<p class="empty" id=${id}>${t('week.empty')}</p>`;
  const start = Math.floor(Math.min(...shown.map((e) => minutes(e.start_time))) / 60) * 60;
  const end = Math.ceil(Math.max(...shown.map((e) => minutes(e.end_time))) / 60) * 60;
  const span = Math.max(60, end - start);
  const today = ((now.getDay() + 6) % 7) + 1;
  const nowMin = now.getHours() * 60 + now.getMinutes();
  const hours = [];
  for (let m = start; m <= end; m += 60) hours.push(m);
  const names = dayNames();
  return html`
    <div class="weekgrid" id=${id} style=${`--rows:${span / 60}`}>
      <div class="wg-hours" aria-hidden="true">
        ${hours.map((m) => html`<span style=${`top:${((m - start) / span) * 100}%`}>${String(m / 60).padStart(2, '0')}:00</span>`)}
      </div>
      ${[1, 2, 3, 4, 5, 6, 7].map((d) => html`
        <section class=${d === today ? 'wg-day today' : 'wg-day'} aria-label=${names[d - 1]} key=${d}>
          <h4>${names[d - 1]}${d === today ? html` <span class="badge">${t('week.today')}</span>` : ''}</h4>
          <ul class="wg-col">
            ${shown.filter((e) => e.day_of_week === d).map((e) => {
              const c = byId.get(e.course_id) || { name: t('week.unknown_course', { id: e.course_id }) };
              const s = minutes(e.start_time);
              const f = minutes(e.end_time);
              const current = d === today && nowMin >= s && nowMin < f;
              const style = `top:${((s - start) / span) * 100}%;height:${((f - s) / span) * 100}%;${courseColor(c.color) ? `--course:${courseColor(c.color)}` : ''}`;
              return html`<li key=${e.id} class=${current ? 'wg-entry current' : 'wg-entry'} style=${style}
                title=${[c.name, c.teacher, c.location, `${e.start_time}–${e.end_time}`].filter(Boolean).join(' · ')}>
                <strong>${c.name}</strong>
                <span>${e.start_time}–${e.end_time}</span>
                ${c.location && html`<span>${c.location}</span>`}
                ${current && html`<span class="sr-only">${t('week.now')}</span>`}
              </li>`;
            })}
          </ul>
        </section>`)}
    </div>`;
}
