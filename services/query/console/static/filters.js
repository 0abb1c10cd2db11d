// The filter bar shared by Logs, Analytics and Exports: every shared filter of
// the API, the time range (presets and custom) and body search, read from and
// written to the URL, plus the organisation's saved filters.
import { h, clear, toast } from './dom.js';
import { api } from './api.js';
import { parse, go, setParams } from './route.js';

export const PRESETS = [
  ['15m', 'Last 15 minutes', 15 * 60e3],
  ['1h', 'Last hour', 3600e3],
  ['6h', 'Last 6 hours', 6 * 3600e3],
  ['24h', 'Last 24 hours', 24 * 3600e3],
  ['7d', 'Last 7 days', 7 * 24 * 3600e3],
  ['30d', 'Last 30 days', 30 * 24 * 3600e3],
];

// Every shared filter: [param, label, kind, placeholder]. The first group is
// always shown, the rest under "More filters".
export const MAIN_FILTERS = [
  ['ai_model', 'Model', 'text', 'gpt-4o'],
  ['provider', 'Provider', 'text', 'openai'],
  ['status_code', 'Status code', 'text', '200,429'],
  ['metadata', 'Metadata', 'metadata', 'key=value, key2=value'],
  ['trace_id', 'Trace id', 'text', ''],
  ['cache_status', 'Cache', 'select', ['', 'HIT', 'SEMANTIC HIT', 'MISS', 'REFRESHED', 'DISABLED']],
];
export const MORE_FILTERS = [
  ['cost_min', 'Cost ≥', 'number', ''],
  ['cost_max', 'Cost ≤', 'number', ''],
  ['total_units_min', 'Tokens ≥', 'number', ''],
  ['total_units_max', 'Tokens ≤', 'number', ''],
  ['prompt_token_min', 'Prompt tokens ≥', 'number', ''],
  ['prompt_token_max', 'Prompt tokens ≤', 'number', ''],
  ['completion_token_min', 'Completion tokens ≥', 'number', ''],
  ['completion_token_max', 'Completion tokens ≤', 'number', ''],
  ['weighted_feedback_min', 'Weighted feedback ≥', 'number', ''],
  ['weighted_feedback_max', 'Weighted feedback ≤', 'number', ''],
  ['virtual_keys', 'Virtual keys', 'text', 'vk-1,vk-2'],
  ['configs', 'Configs', 'text', 'pc-...'],
  ['prompt_slug', 'Prompt', 'text', ''],
  ['api_key_ids', 'API key ids', 'text', ''],
  ['user', 'User', 'text', ''],
  ['span_id', 'Span id', 'text', ''],
  ['ai_org_model', 'Provider__model', 'text', 'openai__gpt-4o'],
  ['is_success', 'Outcome', 'select', ['', 'true', 'false']],
];
export const FILTER_PARAMS = [...MAIN_FILTERS, ...MORE_FILTERS].map((f) => f[0])
  .concat(['search', 'time_of_generation_min', 'time_of_generation_max']);

// metadataToText turns the API's JSON object into "k=v, k2=v2" for the input.
function metadataToText(s) {
  try {
    const o = JSON.parse(s);
    return Object.entries(o).map(([k, v]) => `${k}=${v}`).join(', ');
  } catch { return s; }
}

// metadataFromText parses "k=v, k2=v2" into the API's JSON object text.
export function metadataFromText(s) {
  const o = {};
  for (const part of s.split(',')) {
    const t = part.trim();
    if (!t) continue;
    const i = t.indexOf('=');
    if (i <= 0) throw new Error(`metadata: "${t}" is not key=value`);
    o[t.slice(0, i).trim()] = t.slice(i + 1).trim();
  }
  return Object.keys(o).length ? JSON.stringify(o) : '';
}

// timeBounds resolves the view's time range to ISO bounds ({} for "all").
// needBounds (analytics, exports) turns "all" into the last 30 days.
export function timeBounds(params, needBounds = false) {
  const min = params.get('time_of_generation_min');
  const max = params.get('time_of_generation_max');
  if (min || max) {
    const out = {};
    if (min) out.time_of_generation_min = min;
    if (max) out.time_of_generation_max = max;
    if (needBounds && !max) out.time_of_generation_max = new Date().toISOString();
    if (needBounds && !min) out.time_of_generation_min = new Date(Date.now() - 30 * 24 * 3600e3).toISOString();
    return out;
  }
  let range = params.get('range') || (needBounds ? '24h' : '');
  if (range === 'all' && needBounds) range = '30d';
  const p = PRESETS.find((x) => x[0] === range);
  if (!p) return {};
  const now = Date.now();
  const out = { time_of_generation_min: new Date(now - p[2]).toISOString() };
  if (needBounds) out.time_of_generation_max = new Date(now).toISOString();
  return out;
}

// apiFilters returns the API query parameters of the view's filters.
export function apiFilters(params, needBounds = false) {
  const q = {};
  for (const name of FILTER_PARAMS) {
    if (name.startsWith('time_of_generation')) continue;
    const v = params.get(name);
    if (v) q[name] = v;
  }
  return Object.assign(q, timeBounds(params, needBounds));
}

function toLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (isNaN(d)) return '';
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

// filterBar renders the bar for the current route, body search included;
// opts.defaultRange is the range shown when the URL has none.
export function filterBar(opts = {}) {
  const { params } = parse();
  const form = h('form', { class: 'filterbar', id: 'filterbar', autocomplete: 'off' });
  const inputs = {};
  const field = ([name, label, kind, extra]) => {
    let input;
    let value = params.get(name) || '';
    if (kind === 'select') {
      input = h('select', { name, id: 'f-' + name }, extra.map((o) => h('option', { value: o, text: o || 'any', selected: o === value })));
    } else {
      if (kind === 'metadata') value = metadataToText(value);
      input = h('input', { name, id: 'f-' + name, type: kind === 'number' ? 'number' : 'text', step: 'any', placeholder: extra || '', value });
    }
    inputs[name] = [input, kind];
    return h('label', { class: 'field' }, h('span', { text: label }), input);
  };

  const range = params.get('time_of_generation_min') || params.get('time_of_generation_max') ? 'custom' : (params.get('range') || opts.defaultRange || 'all');
  const rangeSel = h('select', { name: 'range', id: 'f-range' },
    PRESETS.map(([v, label]) => h('option', { value: v, text: label, selected: v === range })),
    h('option', { value: 'all', text: 'All time', selected: range === 'all' }),
    h('option', { value: 'custom', text: 'Custom…', selected: range === 'custom' }));
  const from = h('input', { type: 'datetime-local', id: 'f-from', value: toLocalInput(params.get('time_of_generation_min')) });
  const to = h('input', { type: 'datetime-local', id: 'f-to', value: toLocalInput(params.get('time_of_generation_max')) });
  const custom = h('span', { class: 'custom-range' + (range === 'custom' ? '' : ' hidden') },
    h('label', { class: 'field' }, h('span', { text: 'From' }), from),
    h('label', { class: 'field' }, h('span', { text: 'To' }), to));
  rangeSel.addEventListener('change', () => {
    custom.classList.toggle('hidden', rangeSel.value !== 'custom');
    if (rangeSel.value !== 'custom') apply();
  });

  const search = h('input', { type: 'search', id: 'f-search', name: 'search', maxlength: 256, placeholder: 'Search request and response bodies', value: params.get('search') || '' });

  const more = h('details', { class: 'more-filters' }, h('summary', { text: 'More filters' }),
    h('div', { class: 'fields' }, MORE_FILTERS.map(field)));
  if (MORE_FILTERS.some(([n]) => params.get(n))) more.open = true;

  const saved = savedFilters();

  function apply() {
    const changes = {};
    for (const [name, [input, kind]] of Object.entries(inputs)) {
      let v = input.value.trim();
      if (kind === 'metadata' && v) {
        try { v = metadataFromText(v); } catch (e) { toast(e.message, 'error'); return; }
      }
      changes[name] = v;
    }
    changes.search = search.value.trim();
    if (rangeSel.value === 'custom') {
      changes.range = null;
      changes.time_of_generation_min = from.value ? new Date(from.value).toISOString() : null;
      changes.time_of_generation_max = to.value ? new Date(to.value).toISOString() : null;
    } else {
      changes.range = rangeSel.value === (opts.defaultRange || 'all') ? null : rangeSel.value;
      changes.time_of_generation_min = null;
      changes.time_of_generation_max = null;
    }
    changes.log = null;
    setParams(changes);
  }
  form.addEventListener('submit', (ev) => { ev.preventDefault(); apply(); });

  const clearBtn = h('button', { type: 'button', class: 'secondary', text: 'Clear', onclick: () => {
    const r = parse();
    const keep = new URLSearchParams();
    for (const k of ['cols', 'widths', 'live']) if (r.params.get(k)) keep.set(k, r.params.get(k));
    go(r.page, keep);
  } });

  form.append(
    h('div', { class: 'fields' },
      h('label', { class: 'field' }, h('span', { text: 'Time' }), rangeSel), custom,
      h('label', { class: 'field grow' }, h('span', { text: 'Search' }), search),
      MAIN_FILTERS.map(field),
      h('span', { class: 'actions' }, h('button', { type: 'submit', id: 'apply-filters', text: 'Apply' }), clearBtn)),
    h('div', { class: 'fields' }, more, saved));
  return form;
}

// savedFilters is the saved-filter picker: the organisation's views, one
// click applies one; "Save view" stores the current view under a name.
function savedFilters() {
  const box = h('div', { class: 'saved', id: 'saved-filters' });
  const list = h('select', { id: 'saved-select', 'aria-label': 'Saved filters' }, h('option', { value: '', text: 'Saved filters…' }));
  const name = h('input', { type: 'text', id: 'saved-name', placeholder: 'Name this view', maxlength: 128 });
  const del = h('button', { type: 'button', class: 'secondary', id: 'saved-delete', text: 'Delete', disabled: true });
  let items = [];
  async function load() {
    try {
      const r = await api('v1/saved-filters');
      items = r.data || [];
      clear(list).append(h('option', { value: '', text: `Saved filters (${items.length})…` }),
        ...items.map((f) => h('option', { value: f.id, text: f.name })));
    } catch (e) {
      list.title = 'Saved filters unavailable: ' + e.message;
    }
  }
  list.addEventListener('change', () => {
    del.disabled = !list.value;
    const f = items.find((x) => x.id === list.value);
    if (!f) return;
    const r = parse();
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(f.filters || {})) if (k !== 'page') p.set(k, v);
    go((f.filters && f.filters.page) || r.page, p);
  });
  del.addEventListener('click', async () => {
    if (!list.value) return;
    try {
      await api('v1/saved-filters/' + encodeURIComponent(list.value), { method: 'DELETE' });
      toast('Saved filter deleted');
      load();
    } catch (e) { toast(e.message, 'error'); }
  });
  const save = h('button', { type: 'button', id: 'saved-save', text: 'Save view', onclick: async () => {
    const n = name.value.trim();
    if (!n) { name.focus(); toast('Give the view a name first', 'error'); return; }
    const r = parse();
    const filters = { page: r.page };
    for (const [k, v] of r.params) if (k !== 'log') filters[k] = v;
    try {
      await api('v1/saved-filters', { method: 'POST', body: { name: n, filters } });
      name.value = '';
      toast('Saved for your organisation');
      load();
    } catch (e) { toast(e.message, 'error'); }
  } });
  load();
  return h('span', { class: 'saved-box' }, list, del, name, save, box);
}
