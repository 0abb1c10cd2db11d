// The Traces view: the logs of one trace id as a span tree (span id, parent
// span id, span name) on a time axis; a span opens its log's side panel.
import { h, clear, fmtTime, fmtNum } from './dom.js';
import { api } from './api.js';
import { parse, setParams, href } from './route.js';
import { loadLog } from './panel.js';

export function tracesPage(root) {
  const { arg: traceID, params } = parse();
  const tree = h('div', { class: 'trace-tree', id: 'trace-tree' });
  const panel = h('aside', { class: 'panel hidden', id: 'log-panel' });
  const back = h('a', { href: href('logs', new URLSearchParams({ trace_id: traceID })), text: 'Logs of this trace' });
  clear(root).append(h('div', { class: 'page-head' }, h('h1', { text: 'Trace' }), h('code', { id: 'trace-id', text: traceID }), h('span', { class: 'spacer' }), back),
    h('div', { class: 'logs-layout' }, h('div', { class: 'table-scroll' }, tree), panel));
  let destroyed = false;

  (async () => {
    try {
      const page = await api('v1/logs', { query: { trace_id: traceID, page_size: 500 } });
      if (destroyed) return;
      draw(page.data || []);
    } catch (e) {
      tree.appendChild(h('p', { class: 'error', text: 'Could not load the trace: ' + e.message }));
    }
  })();

  function draw(logs) {
    if (!logs.length) { tree.appendChild(h('p', { class: 'muted', text: 'No logs in this trace.' })); return; }
    const spans = logs.map((l) => ({ log: l, start: Date.parse(l.created_at), dur: Number(l.response_time) || 0, children: [] }));
    const bySpan = new Map();
    for (const s of spans) if (s.log.span_id && !bySpan.has(s.log.span_id)) bySpan.set(s.log.span_id, s);
    const roots = [];
    for (const s of spans) {
      const parent = s.log.parent_span_id && bySpan.get(s.log.parent_span_id);
      if (parent && parent !== s) parent.children.push(s); else roots.push(s);
    }
    const t0 = Math.min(...spans.map((s) => s.start));
    const t1 = Math.max(...spans.map((s) => s.start + s.dur), t0 + 1);
    const span = t1 - t0;
    const axis = h('div', { class: 'trace-row axis' }, h('div', { class: 'trace-label', text: `${spans.length} spans · ${fmtTime(new Date(t0).toISOString())}` }),
      h('div', { class: 'trace-bar-area' }, [0, 0.25, 0.5, 0.75, 1].map((f) => {
        const tick = h('span', { class: 'tick', text: `${fmtNum(Math.round(span * f))} ms` });
        tick.style.left = `${f * 100}%`;
        return tick;
      })));
    tree.appendChild(axis);
    const sortRec = (list) => { list.sort((a, b) => a.start - b.start); for (const s of list) sortRec(s.children); };
    sortRec(roots);
    const walk = (s, depth) => {
      const label = h('div', { class: 'trace-label' }, h('span', { class: 'indent' }), h('span', { class: 'span-name', text: s.log.span_name || s.log.span_id || s.log.id }),
        h('span', { class: 'muted', text: ` ${s.log.ai_model || ''}` }));
      label.firstChild.style.width = `${depth * 16}px`;
      const bar = h('div', { class: 'trace-bar' + (s.log.is_success === 0 ? ' err' : ''), title: `${fmtNum(s.dur)} ms · span ${s.log.span_id || '—'} · parent ${s.log.parent_span_id || '—'}` });
      bar.style.left = `${((s.start - t0) / span) * 100}%`;
      bar.style.width = `${Math.max(0.5, (s.dur / span) * 100)}%`;
      const row = h('div', { class: 'trace-row span-row', 'data-id': s.log.id, 'data-span': s.log.span_id || '', 'data-parent': s.log.parent_span_id || '', 'data-depth': depth },
        label, h('div', { class: 'trace-bar-area' }, bar, h('span', { class: 'dur', text: `${fmtNum(s.dur)} ms` })));
      row.addEventListener('click', () => setParams({ log: s.log.id }));
      tree.appendChild(row);
      for (const c of s.children) walk(c, depth + 1);
    };
    for (const r of roots) walk(r, 0);
  }

  let openId = '';
  async function show(id) {
    if (id === openId) return;
    openId = id;
    for (const r of tree.querySelectorAll('.selected')) r.classList.remove('selected');
    if (!id) { panel.classList.add('hidden'); return; }
    panel.classList.remove('hidden');
    try { await loadLog(panel, { id }, { onClose: () => setParams({ log: null }) }); } catch (e) { clear(panel).appendChild(h('p', { class: 'error', text: e.message })); }
  }
  const onKey = (ev) => { if (ev.key === 'Escape' && openId) setParams({ log: null }); };
  document.addEventListener('keydown', onKey);
  show(params.get('log') || '');
  return {
    update(route) { show(route.params.get('log') || ''); },
    handles(prev, next) { const a = new URLSearchParams(prev), b = new URLSearchParams(next); a.delete('log'); b.delete('log'); return a.toString() === b.toString(); },
    destroy() { destroyed = true; document.removeEventListener('keydown', onKey); },
  };
}

// sharedPage opens a log from a share link (#/shared/<token>).
export function sharedPage(root) {
  const { arg: token } = parse();
  const box = h('div', { class: 'panel shared', id: 'log-panel' });
  clear(root).append(h('div', { class: 'page-head' }, h('h1', { text: 'Shared log' })), box);
  loadLog(box, { token }, { shared: true }).catch((e) => {
    clear(box).appendChild(h('p', { class: 'error', id: 'panel-error', text: e.status === 404
      ? 'Not found: this log does not exist or is not shared with your organisation.'
      : 'Could not open the shared log: ' + e.message }));
  });
  return { destroy() { if (box.cancel) box.cancel(); } };
}
