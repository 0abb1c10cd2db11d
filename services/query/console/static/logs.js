// The Logs page: newest first, infinite scroll on the API's cursor, the
// matching total, live mode, configurable columns (any metadata key too),
// and the side panel of the log named in the URL (j/k move, Esc closes).
import { h, clear, fmtTime, fmtNum, fmtCost, toast } from './dom.js';
import { api } from './api.js';
import { parse, setParams } from './route.js';
import { filterBar, apiFilters } from './filters.js';
import { badges } from './status.js';
import { loadLog } from './panel.js';

const PAGE = 50;
// Live mode polls the newest page this often (skipped while the tab is hidden);
// the next poll starts only after the previous one answered.
const LIVE_MS = 500;

export const COLUMNS = [
  { id: 'time', label: 'Time', w: 190, get: (r) => fmtTime(r.created_at) },
  { id: 'status', label: 'Status', w: 250, cell: (r) => badges(r.status) },
  { id: 'endpoint', label: 'Endpoint', w: 130, get: (r) => r.endpoint_type },
  { id: 'model', label: 'Provider / model', w: 200, get: (r) => [r.ai_org, r.ai_model].filter(Boolean).join(' / ') },
  { id: 'tokens', label: 'Tokens', w: 120, cell: (r) => h('span', null, fmtNum(r.total_units), r.reasoning_units ? h('span', { class: 'muted', title: 'thinking tokens', text: ` (${fmtNum(r.reasoning_units)} thinking)` }) : null) },
  { id: 'cost', label: 'Cost', w: 90, num: true, get: (r) => fmtCost(r.cost) },
  { id: 'latency', label: 'Latency', w: 90, num: true, get: (r) => fmtNum(r.response_time) + ' ms' },
  { id: 'code', label: 'Code', w: 70, num: true, cell: (r) => h('span', { class: r.response_status_code >= 400 ? 'code err' : 'code ok', text: r.response_status_code }) },
  { id: 'user', label: 'User', w: 120, get: (r) => r.user },
  { id: 'trace', label: 'Trace id', w: 200, get: (r) => r.trace_id },
  { id: 'id', label: 'Log id', w: 280, hidden: true, get: (r) => r.id },
  { id: 'cache', label: 'Cache', w: 110, hidden: true, get: (r) => r.cache_status },
  { id: 'config', label: 'Config', w: 140, hidden: true, get: (r) => r.config },
  { id: 'prompt', label: 'Prompt', w: 140, hidden: true, get: (r) => r.prompt_slug },
  { id: 'virtual_key', label: 'Virtual key', w: 140, hidden: true, get: (r) => r.virtual_key },
  { id: 'span', label: 'Span', w: 140, hidden: true, get: (r) => r.span_name || r.span_id },
];
const DEFAULT_COLS = COLUMNS.filter((c) => !c.hidden).map((c) => c.id);

function columnDef(id) {
  if (id.startsWith('md:')) {
    const key = id.slice(3);
    return { id, label: key, w: 130, md: true, get: (r) => (r.metadata || {})[key] };
  }
  return COLUMNS.find((c) => c.id === id);
}

function visibleColumns(params) {
  const ids = (params.get('cols') || DEFAULT_COLS.join(',')).split(',').filter(Boolean);
  const widths = {};
  for (const part of (params.get('widths') || '').split(',')) {
    const i = part.lastIndexOf('~');
    if (i > 0) widths[part.slice(0, i)] = Number(part.slice(i + 1));
  }
  return ids.map(columnDef).filter(Boolean).map((c) => ({ ...c, w: widths[c.id] > 30 ? widths[c.id] : c.w }));
}

function rowKey(r) { return `${r.created_at}|${r.id}`; }
// newer orders rows newest first: created_at, then id (the API's order).
function newer(a, b) {
  const ta = Date.parse(a.created_at), tb = Date.parse(b.created_at);
  if (ta !== tb) return tb - ta;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

export function logsPage(root) {
  const { params } = parse();
  const cols = visibleColumns(params);
  const query = { ...apiFilters(params), page_size: PAGE };
  const abort = new AbortController();
  let rows = [];
  const seen = new Set();
  let cursor = null;
  let loading = false;
  let done = false;
  let liveTimer = null;
  let destroyed = false;

  const total = h('span', { id: 'total', class: 'total', text: '…' });
  const live = params.get('live') === '1';
  const liveBtn = h('button', { type: 'button', id: 'live-toggle', class: live ? 'live on' : 'live', 'aria-pressed': live ? 'true' : 'false',
    text: live ? '● Live' : 'Live', title: 'Show new logs as they arrive', onclick: () => setParams({ live: live ? null : '1' }) });

  // column picker: show/hide, metadata keys
  const colMenu = h('details', { class: 'menu', id: 'columns-menu' }, h('summary', { text: 'Columns' }));
  const colList = h('div', { class: 'menu-body' });
  const current = new Set(cols.map((c) => c.id));
  const setCols = (ids) => setParams({ cols: ids.join(',') === DEFAULT_COLS.join(',') ? null : ids.join(',') });
  for (const c of COLUMNS) {
    colList.appendChild(h('label', { class: 'check' }, h('input', { type: 'checkbox', 'data-col': c.id, checked: current.has(c.id), onchange: (ev) => {
      const ids = cols.map((x) => x.id).filter((x) => x !== c.id);
      if (ev.target.checked) ids.push(c.id);
      setCols(ids);
    } }), ' ', c.label));
  }
  for (const c of cols.filter((x) => x.md)) {
    colList.appendChild(h('label', { class: 'check' }, h('input', { type: 'checkbox', checked: true, onchange: () => setCols(cols.map((x) => x.id).filter((x) => x !== c.id)) }), ' metadata: ', c.label));
  }
  const mdKey = h('input', { type: 'text', id: 'md-column-key', placeholder: 'metadata key', size: 12 });
  colList.appendChild(h('form', { class: 'inline-form', onsubmit: (ev) => {
    ev.preventDefault();
    const k = mdKey.value.trim();
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(k)) { toast('A metadata key is 1–64 of A–Z a–z 0–9 _ . -', 'error'); return; }
    if (!current.has('md:' + k)) setCols([...cols.map((x) => x.id), 'md:' + k]);
  } }, mdKey, h('button', { type: 'submit', id: 'md-column-add', text: 'Add column' })));
  colList.appendChild(h('button', { type: 'button', class: 'link', text: 'Reset columns', onclick: () => setParams({ cols: null, widths: null }) }));
  colMenu.appendChild(colList);

  const colgroup = h('colgroup', null, cols.map((c) => h('col', { style: null, 'data-col': c.id })));
  const thead = h('thead', null, h('tr', null, cols.map((c, i) => {
    const th = h('th', { class: c.num ? 'num' : '', 'data-col': c.id, title: c.md ? 'metadata: ' + c.label : c.label }, h('span', { text: c.label }));
    const grip = h('span', { class: 'resize', title: 'Drag to resize', role: 'separator' });
    grip.addEventListener('pointerdown', (ev) => startResize(ev, i));
    th.appendChild(grip);
    return th;
  })));
  const tbody = h('tbody', { id: 'log-rows' });
  const table = h('table', { class: 'grid logs', id: 'logs-table' }, colgroup, thead, tbody);
  const applyWidths = () => {
    let sum = 0;
    cols.forEach((c, i) => { colgroup.children[i].style.width = c.w + 'px'; sum += c.w; });
    table.style.width = sum + 'px';
  };
  applyWidths();
  function startResize(ev, i) {
    ev.preventDefault();
    const x0 = ev.clientX, w0 = cols[i].w;
    const move = (e) => { cols[i].w = Math.max(40, Math.round(w0 + e.clientX - x0)); applyWidths(); };
    const up = () => {
      window.removeEventListener('pointermove', move);
      window.removeEventListener('pointerup', up);
      setParams({ widths: cols.map((c) => `${c.id}~${c.w}`).join(',') }, { replace: true });
    };
    window.addEventListener('pointermove', move);
    window.addEventListener('pointerup', up);
  }

  const status = h('div', { class: 'list-status', id: 'list-status' });
  const sentinel = h('div', { class: 'sentinel', id: 'sentinel' });
  const scroller = h('div', { class: 'table-scroll', id: 'logs-scroll' }, table, status, sentinel);
  const panel = h('aside', { class: 'panel hidden', id: 'log-panel', 'aria-label': 'Log details' });
  const layout = h('div', { class: 'logs-layout' }, scroller, panel);

  clear(root).append(
    h('div', { class: 'page-head' }, h('h1', { text: 'Logs' }), total, h('span', { class: 'spacer' }), liveBtn, colMenu),
    filterBar(), layout);

  const renderRow = (r) => {
    const tr = h('tr', { 'data-id': r.id, tabindex: '-1', class: 'log-row' }, cols.map((c) => {
      const td = h('td', { class: c.num ? 'num' : '', 'data-col': c.id });
      if (c.cell) td.appendChild(c.cell(r));
      else {
        const v = c.get(r);
        td.textContent = v === undefined || v === null ? '' : String(v);
        td.title = td.textContent;
      }
      return td;
    }));
    tr.addEventListener('click', () => setParams({ log: r.id }));
    return tr;
  };

  async function more() {
    if (loading || done || destroyed) return;
    loading = true;
    status.textContent = 'Loading…';
    try {
      const q = { ...query };
      if (cursor) q.cursor = cursor;
      const t0 = performance.now();
      const page = await api('v1/logs', { query: q, signal: abort.signal });
      if (destroyed) return;
      total.textContent = `${fmtNum(page.total)} ${page.total === 1 ? 'log matches' : 'logs match'}`;
      total.dataset.total = page.total;
      const frag = document.createDocumentFragment();
      for (const r of page.data) {
        if (seen.has(rowKey(r))) continue;
        seen.add(rowKey(r));
        rows.push(r);
        frag.appendChild(renderRow(r));
      }
      tbody.appendChild(frag);
      if (!cursor) {
        // time from navigation to the first rows in the page (read by make bench)
        root.dataset.firstRowsAt = String(Math.round(performance.now()));
        root.dataset.firstPageMs = String(Math.round(performance.now() - t0));
        markSelected();
      }
      cursor = page.next_cursor;
      done = !cursor;
      status.textContent = rows.length === 0 ? 'No logs match these filters.' : (done ? `All ${fmtNum(rows.length)} logs shown.` : '');
    } catch (e) {
      if (e.name === 'AbortError') return;
      status.textContent = 'Could not load logs: ' + e.message;
      status.classList.add('error');
      done = true;
    } finally {
      loading = false;
    }
    // keep filling while the sentinel is still visible
    if (!done && !destroyed && sentinelVisible()) more();
  }
  function sentinelVisible() {
    const a = sentinel.getBoundingClientRect(), b = scroller.getBoundingClientRect();
    return a.top < b.bottom + 400;
  }
  const io = new IntersectionObserver((es) => { if (es.some((e) => e.isIntersecting)) more(); }, { root: scroller, rootMargin: '400px' });
  io.observe(sentinel);

  async function poll() {
    if (destroyed) return;
    if (document.hidden) { liveTimer = setTimeout(poll, LIVE_MS); return; }
    try {
      const page = await api('v1/logs', { query: { ...apiFilters(parse().params), page_size: PAGE }, signal: abort.signal });
      if (destroyed) return;
      total.textContent = `${fmtNum(page.total)} ${page.total === 1 ? 'log matches' : 'logs match'}`;
      total.dataset.total = page.total;
      const fresh = page.data.filter((r) => !seen.has(rowKey(r)));
      fresh.sort(newer);
      for (const r of fresh.reverse()) {
        seen.add(rowKey(r));
        // insert before the first row that is older
        let i = rows.findIndex((x) => newer(r, x) < 0);
        if (i < 0) i = rows.length;
        if (i === rows.length && !done) continue; // older than the loaded tail: infinite scroll brings it
        rows.splice(i, 0, r);
        const tr = renderRow(r);
        tr.classList.add('fresh');
        tbody.insertBefore(tr, tbody.children[i] || null);
      }
      if (rows.length) status.textContent = status.textContent.startsWith('No logs') ? '' : status.textContent;
    } catch (e) {
      if (e.name === 'AbortError') return;
    } finally {
      if (!destroyed) liveTimer = setTimeout(poll, LIVE_MS);
    }
  }
  if (live) liveTimer = setTimeout(poll, LIVE_MS);

  // side panel
  let openId = '';
  function markSelected() {
    for (const tr of tbody.querySelectorAll('tr.selected')) tr.classList.remove('selected');
    if (!openId) return;
    const tr = tbody.querySelector(`tr[data-id="${CSS.escape(openId)}"]`);
    if (tr) { tr.classList.add('selected'); tr.scrollIntoView({ block: 'nearest' }); }
  }
  async function showPanel(id) {
    if (id === openId) return;
    if (panel.cancel) panel.cancel();
    openId = id;
    markSelected();
    if (!id) { panel.classList.add('hidden'); clear(panel); layout.classList.remove('with-panel'); return; }
    panel.classList.remove('hidden');
    layout.classList.add('with-panel');
    clear(panel).appendChild(h('p', { class: 'muted', text: 'Loading log…' }));
    try {
      await loadLog(panel, { id }, { onClose: () => setParams({ log: null }) });
    } catch (e) {
      if (openId !== id) return;
      clear(panel).append(h('p', { class: 'error', id: 'panel-error', text: e.status === 404 ? 'No such log in this workspace.' : 'Could not load the log: ' + e.message }),
        h('button', { type: 'button', class: 'secondary', text: 'Close', onclick: () => setParams({ log: null }) }));
    }
  }
  function step(delta) {
    let i = rows.findIndex((r) => r.id === openId);
    i = i < 0 ? (delta > 0 ? 0 : rows.length - 1) : i + delta;
    if (i < 0 || i >= rows.length) return;
    if (i >= rows.length - 5) more();
    setParams({ log: rows[i].id }, { replace: true });
  }
  const onKey = (ev) => {
    if (ev.target.closest && ev.target.closest('input, textarea, select')) return;
    if (ev.key === 'j') step(1);
    else if (ev.key === 'k') step(-1);
    else if (ev.key === 'Escape' && openId) setParams({ log: null });
  };
  document.addEventListener('keydown', onKey);

  more();
  showPanel(params.get('log') || '');

  return {
    // update handles a URL change that only opens or closes the panel.
    update(route) { showPanel(route.params.get('log') || ''); },
    // handles reports whether only "log" (and widths) changed.
    handles(prev, next) {
      const strip = (p) => { const q = new URLSearchParams(p); q.delete('log'); q.delete('widths'); q.sort(); return q.toString(); };
      return strip(prev) === strip(next);
    },
    destroy() {
      destroyed = true;
      abort.abort();
      clearTimeout(liveTimer);
      io.disconnect();
      document.removeEventListener('keydown', onKey);
      if (panel.cancel) panel.cancel();
    },
  };
}
