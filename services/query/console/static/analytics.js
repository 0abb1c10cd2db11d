// The Analytics page: the graphs of /v1/analytics/graphs/* as time-series
// charts (zero-filled, hover values), summary figures, and the groups
// (users, models, a metadata key) as sortable tables; the same filter bar
// and time range as Logs.
import { h, clear, fmtNum, fmtCost, fmtTime } from './dom.js';
import { api } from './api.js';
import { parse, setParams } from './route.js';
import { filterBar, apiFilters } from './filters.js';
import { chart, seriesOf } from './chart.js';

// [path, title, series to draw (names; "x *" for every "x ..." series)]
export const GRAPHS = [
  ['requests', 'Requests', ['total', 'success', 'failed']],
  ['cost', 'Cost', ['total']],
  ['latency', 'Latency (ms)', ['avg', 'p50', 'p90', 'p99']],
  ['tokens', 'Tokens', ['total', 'prompt', 'completion', 'reasoning']],
  ['users', 'Users', ['total']],
  ['users-requests', 'Requests with a user', ['total', 'users']],
  ['errors', 'Errors', ['total']],
  ['errors-rate', 'Error rate (%)', ['rate']],
  ['errors-stack', 'Errors by status code', ['status_codes *']],
  ['errors-status-code', 'Distinct error status codes', ['total']],
  ['requests-rescued', 'Requests rescued', ['total', 'retry', 'fallback']],
  ['cache-hit-rate', 'Cache hit rate (%)', ['rate', 'simple_rate', 'semantic_rate']],
  ['cache-latency', 'Cache latency (ms)', ['avg', 'avg_miss']],
  ['feedbacks', 'Feedback', ['total', 'avg', 'avg_weighted']],
  ['feedbacks/score', 'Feedback by score', ['scores *']],
  ['feedbacks/weighted', 'Weighted feedback', ['avg', 'sum']],
  ['feedbacks/ai-models', 'Feedback by model', ['ai_models *']],
];

const SUMMARY = [
  ['requests', 'total', 'Requests', fmtNum],
  ['cost', 'total', 'Cost', fmtCost],
  ['latency', 'avg', 'Avg latency (ms)', (v) => fmtNum(v, 0)],
  ['tokens', 'total', 'Tokens', fmtNum],
  ['users', 'total', 'Users', fmtNum],
  ['errors-rate', 'rate', 'Error rate (%)', (v) => fmtNum(v, 2)],
  ['cache-hit-rate', 'rate', 'Cache hit rate (%)', (v) => fmtNum(v, 2)],
  ['feedbacks', 'avg_weighted', 'Avg weighted feedback', (v) => fmtNum(v, 2)],
];

const GROUPS = [
  ['users', 'Users', 'user', ['requests', 'cost', 'avg_tokens', 'avg_latency', 'last_seen']],
  ['ai-models', 'Models', 'ai_model', ['requests', 'cost', 'avg_tokens', 'avg_latency', 'last_seen']],
  ['metadata', 'Metadata', 'metadata_value', ['requests', 'cost', 'avg_tokens', 'avg_weighted_feedback', 'requests_with_feedback', 'last_seen']],
];

function pick(series, wanted) {
  const names = series.map((s) => s.name);
  const out = [];
  for (const w of wanted) {
    if (w.endsWith(' *')) out.push(...names.filter((n) => n.startsWith(w.slice(0, -1))));
    else if (names.includes(w)) out.push(w);
  }
  return out.length ? out : names;
}

// limit runs the async jobs at most n at a time.
async function limit(jobs, n) {
  let next = 0;
  const worker = async () => { while (next < jobs.length) await jobs[next++](); };
  await Promise.all(Array.from({ length: n }, worker));
}

export function analyticsPage(root) {
  const { params } = parse();
  const q = apiFilters(params, true);
  const abort = new AbortController();
  const cards = h('div', { class: 'cards', id: 'summary-cards' });
  const grid = h('div', { class: 'charts', id: 'charts' });
  const groups = h('div', { class: 'groups', id: 'groups' });
  clear(root).append(
    h('div', { class: 'page-head' }, h('h1', { text: 'Analytics' }),
      h('span', { class: 'muted', text: `${fmtTime(q.time_of_generation_min)} — ${fmtTime(q.time_of_generation_max)}` })),
    filterBar({ defaultRange: '24h' }), cards, grid, groups);

  const summaries = {};
  const slots = GRAPHS.map(([path, title]) => {
    const slot = h('div', { class: 'chart-slot', id: 'graph-' + path.replace('/', '-') }, h('h3', { text: title }), h('p', { class: 'muted', text: 'Loading…' }));
    grid.appendChild(slot);
    return slot;
  });
  const drawCards = () => {
    clear(cards).append(...SUMMARY.map(([g, field, label, fmt]) => {
      const s = summaries[g];
      const v = s ? s[field] : undefined;
      return h('div', { class: 'card', 'data-summary': `${g}.${field}` }, h('div', { class: 'card-label', text: label }), h('div', { class: 'card-value', text: v === undefined ? '…' : fmt(v) }));
    }));
  };
  drawCards();

  const jobs = GRAPHS.map(([path, title, wanted], i) => async () => {
    const slot = slots[i];
    try {
      const r = await api('v1/analytics/graphs/' + path, { query: q, signal: abort.signal });
      summaries[path] = r.summary || {};
      drawCards();
      const data = seriesOf(r.data_points);
      clear(slot).append(h('h3', { text: title }), chart(path, data, { show: pick(data.series, wanted) }));
    } catch (e) {
      if (e.name === 'AbortError') return;
      clear(slot).append(h('h3', { text: title }), h('p', { class: 'error', text: e.message }));
    }
  });

  for (const [kind, title, keyField, cols] of GROUPS) groups.appendChild(groupTable(kind, title, keyField, cols, params, q, abort.signal));
  limit(jobs, 4);
  return { destroy() { abort.abort(); } };
}

function groupTable(kind, title, keyField, cols, params, q, signal) {
  const box = h('section', { class: 'group', id: 'group-' + kind });
  const sortParam = 'sort_' + kind.replace('-', '_');
  const [sortCol, sortDir] = (params.get(sortParam) || 'requests.desc').split('.');
  const head = h('div', { class: 'group-head' }, h('h3', { text: title }));
  let path = 'v1/analytics/groups/' + kind;
  if (kind === 'metadata') {
    const key = params.get('group_key') || '';
    const input = h('input', { type: 'text', id: 'group-key', placeholder: 'metadata key', value: key, size: 14 });
    head.appendChild(h('form', { class: 'inline-form', onsubmit: (ev) => { ev.preventDefault(); setParams({ group_key: input.value.trim() }); } },
      input, h('button', { type: 'submit', text: 'Group' })));
    box.appendChild(head);
    if (!key) { box.appendChild(h('p', { class: 'muted', text: 'Name a metadata key to group by its values.' })); return box; }
    path += '/' + encodeURIComponent(key);
  } else {
    box.appendChild(head);
  }
  const tbody = h('tbody');
  const table = h('table', { class: 'grid sortable', 'data-group': kind },
    h('thead', null, h('tr', null, h('th', { text: keyField }), cols.map((c) => {
      const dir = sortCol === c ? sortDir : '';
      const th = h('th', { class: 'num sort ' + dir, 'data-sort': c, 'aria-sort': dir === 'asc' ? 'ascending' : dir === 'desc' ? 'descending' : 'none' },
        h('button', { type: 'button', class: 'link', text: c.replace(/_/g, ' ') + (dir === 'asc' ? ' ▲' : dir === 'desc' ? ' ▼' : '') }));
      th.addEventListener('click', () => setParams({ [sortParam]: `${c}.${sortCol === c && sortDir === 'desc' ? 'asc' : 'desc'}` }));
      return th;
    }))), tbody);
  box.appendChild(table);
  (async () => {
    try {
      const r = await api(path, { query: { ...q, order_by: sortCol, order_by_type: sortDir, page_size: 20 }, signal });
      for (const row of r.data || []) {
        tbody.appendChild(h('tr', null, h('td', { text: row[keyField] === '' ? '(none)' : row[keyField] }),
          cols.map((c) => h('td', { class: 'num', text: c === 'last_seen' ? fmtTime(row[c]) : c === 'cost' ? fmtCost(row[c]) : fmtNum(row[c]) }))));
      }
      if (!(r.data || []).length) tbody.appendChild(h('tr', null, h('td', { colspan: cols.length + 1, class: 'muted', text: 'Nothing in this range.' })));
      table.dataset.rows = String((r.data || []).length);
    } catch (e) {
      if (e.name !== 'AbortError') box.appendChild(h('p', { class: 'error', text: e.message }));
    }
  })();
  return box;
}
