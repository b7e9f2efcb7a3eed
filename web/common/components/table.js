// The data table: search, filters, sort, pagination (thousands of rows stay fast: only one page is rendered),
// keyboard navigable (rows are one tab stop; arrows move, Home/End jump, Enter opens the row).
// columns: [{key, label, value?: row => sortable/searchable value, render?: row => vnode, sortable = true}]
// filters: [{key, label, options: [{value, label}], match?: (row, value) => bool}]
import { html, useMemo, useRef, useState, useEffect } from '../html.js';
import { t, fmtNumber } from '../i18n.js';

const PAGE_SIZES = [25, 50, 100];

function cellValue(col, row) {
  return col.value ? col.value(row) : row[col.key];
}

function compare(a, b) {
  if (a === b) return 0;
  if (a === null || a === undefined || a === '') return 1;
  if (b === null || b === undefined || b === '') return -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b), undefined, { numeric: true });
}

export function DataTable({
  id, caption, columns, rows, rowKey, filters = [], onRow, pageSize = 25, initialSort = null,
  selectable = false, selected = null, onSelect = null, empty, toolbar = null,
}) {
  const [search, setSearch] = useState('');
  const [active, setActive] = useState({});
  const [sort, setSort] = useState(initialSort || { key: columns[0].key, dir: 1 });
  const [page, setPage] = useState(0);
  const [size, setSize] = useState(pageSize);
  const [focus, setFocus] = useState(0);
  const body = useRef(null);

  const shown = useMemo(() => {
    const needle = search.trim().toLowerCase();
    let list = rows || [];
    for (const f of filters) {
      const v = active[f.key];
      if (v) list = list.filter((r) => (f.match ? f.match(r, v) : String(r[f.key] ?? '') === v));
    }
    if (needle) {
      list = list.filter((r) => columns.some((c) => String(cellValue(c, r) ?? '').toLowerCase().includes(needle)));
    }
    const col = columns.find((c) => c.key === sort.key);
    if (col) list = [...list].sort((a, b) => sort.dir * compare(cellValue(col, a), cellValue(col, b)));
    return list;
  }, [rows, search, active, sort, columns, filters]);

  const pages = Math.max(1, Math.ceil(shown.length / size));
  const current = Math.min(page, pages - 1);
  const slice = shown.slice(current * size, current * size + size);
  useEffect(() => setFocus((f) => Math.min(f, Math.max(0, slice.length - 1))), [slice.length]);

  const toggleSort = (key) => setSort((s) => (s.key === key ? { key, dir: -s.dir } : { key, dir: 1 }));
  const moveFocus = (i) => {
    const n = Math.max(0, Math.min(slice.length - 1, i));
    setFocus(n);
    const tr = body.current && body.current.querySelectorAll('tr[data-key]')[n];
    if (tr) tr.focus();
  };
  const onKey = (e, i, row) => {
    if (e.target.tagName !== 'TR') return;
    const map = { ArrowDown: i + 1, ArrowUp: i - 1, Home: 0, End: slice.length - 1 };
    if (e.key in map) {
      e.preventDefault();
      moveFocus(map[e.key]);
    } else if (e.key === 'PageDown' && current < pages - 1) {
      e.preventDefault();
      setPage(current + 1);
    } else if (e.key === 'PageUp' && current > 0) {
      e.preventDefault();
      setPage(current - 1);
    } else if ((e.key === 'Enter' || e.key === ' ') && onRow) {
      e.preventDefault();
      onRow(row);
    }
  };
  const allOnPage = selectable && slice.length > 0 && slice.every((r) => selected.has(rowKey(r)));
  const toggleAll = () => {
    const next = new Set(selected);
    for (const r of slice) (allOnPage ? next.delete(rowKey(r)) : next.add(rowKey(r)));
    onSelect(next);
  };
  const toggleOne = (key) => {
    const next = new Set(selected);
    (next.has(key) ? next.delete(key) : next.add(key));
    onSelect(next);
  };

  return html`
    <div class="datatable" id=${id}>
      <div class="dt-tools">
        <label class="dt-search">
          <span class="sr-only">${t('table.search')}</span>
          <input type="search" id=${`${id}-search`} placeholder=${t('table.search')} value=${search}
            onInput=${(e) => { setSearch(e.target.value); setPage(0); }} />
        </label>
        ${filters.map((f) => html`
          <label class="dt-filter" key=${f.key}>
            <span>${f.label}</span>
            <select id=${`${id}-filter-${f.key}`} value=${active[f.key] || ''}
              onChange=${(e) => { setActive((a) => ({ ...a, [f.key]: e.target.value })); setPage(0); }}>
              <option value="">${t('table.all')}</option>
              ${f.options.map((o) => html`<option value=${o.value}>${o.label}</option>`)}
            </select>
          </label>`)}
        <span class="dt-count" aria-live="polite">${t('table.count', { shown: fmtNumber(shown.length), total: fmtNumber((rows || []).length) })}</span>
        ${toolbar}
      </div>
      <div class="dt-scroll">
        <table>
          ${caption && html`<caption class="sr-only">${caption}</caption>`}
          <thead><tr>
            ${selectable && html`<th class="dt-check"><input type="checkbox" aria-label=${t('table.select_page')} checked=${allOnPage} onChange=${toggleAll} /></th>`}
            ${columns.map((c) => {
              const sorted = sort.key === c.key;
              const aria = sorted ? (sort.dir > 0 ? 'ascending' : 'descending') : 'none';
              return html`<th key=${c.key} aria-sort=${aria} scope="col">
                ${c.sortable === false ? c.label : html`<button type="button" class="dt-sort" data-col=${c.key} onClick=${() => toggleSort(c.key)}>
                  ${c.label}<span aria-hidden="true">${sorted ? (sort.dir > 0 ? ' ▲' : ' ▼') : ''}</span></button>`}
              </th>`;
            })}
          </tr></thead>
          <tbody ref=${body}>
            ${slice.length === 0 && html`<tr class="dt-empty"><td colspan=${columns.length + (selectable ? 1 : 0)}>${rows === undefined ? t('table.loading') : (empty || t('table.empty'))}</td></tr>`}
            ${slice.map((r, i) => {
              const key = rowKey(r);
              return html`<tr key=${key} data-key=${key} tabindex=${i === focus ? 0 : -1} class=${onRow ? 'clickable' : ''}
                onFocus=${() => setFocus(i)} onKeyDown=${(e) => onKey(e, i, r)}
                onClick=${(e) => { if (onRow && !e.target.closest('button,a,input,select,label')) onRow(r); }}>
                ${selectable && html`<td class="dt-check"><input type="checkbox" aria-label=${t('table.select_row', { name: key })} checked=${selected.has(key)} onChange=${() => toggleOne(key)} /></td>`}
                ${columns.map((c) => html`<td key=${c.key} data-col=${c.key}>${c.render ? c.render(r) : (cellValue(c, r) ?? '—')}</td>`)}
              </tr>`;
            })}
          </tbody>
        </table>
      </div>
      <nav class="dt-pager" aria-label=${t('table.pages')}>
        <button type="button" class="dt-prev" disabled=${current === 0} onClick=${() => setPage(current - 1)}>${t('table.prev')}</button>
        <span>${t('table.page', { page: current + 1, pages })}</span>
        <button type="button" class="dt-next" disabled=${current >= pages - 1} onClick=${() => setPage(current + 1)}>${t('table.next')}</button>
        <label>
          <span>${t('table.page_size')}</span>
          <select value=${String(size)} onChange=${(e) => { setSize(Number(e.target.value)); setPage(0); }}>
            ${PAGE_SIZES.map((n) => html`<option value=${String(n)}>${n}</option>`)}
          </select>
        </label>
      </nav>
    </div>`;
}
