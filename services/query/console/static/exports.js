// The Exports page (admins): create an export from the current filters with a
// column picker over the documented columns; list exports with status and
// progress; start, cancel, download.
import { h, clear, fmtNum, fmtTime, toast } from './dom.js';
import { api } from './api.js';
import { parse } from './route.js';
import { filterBar, apiFilters } from './filters.js';

// The documented export columns, in documented order (a Go test keeps this
// list equal to the API's), and the "id" short name.
export const EXPORT_COLUMNS = ['created_at', 'request.body', 'response.body', 'is_success', 'ai_org', 'ai_model',
  'req_units', 'res_units', 'total_units', 'cost', 'cost_currency', 'request_url', 'request_method',
  'response_status_code', 'response_time', 'cache_status', 'cache_type', 'stream_mode', 'retry_success_count',
  'trace_id', 'mode', 'virtual_key', 'runtime', 'runtime_version', 'sdk_version', 'config', 'prompt_slug',
  'prompt_version_id', 'metadata.key', 'metadata.value'];
const EXTRA_COLUMNS = ['id'];
const DEFAULT_PICK = ['id', 'created_at', 'ai_org', 'ai_model', 'total_units', 'cost', 'response_status_code', 'response_time', 'trace_id', 'metadata.key', 'metadata.value', 'request.body', 'response.body'];

function bytes(n) {
  if (!n) return '0 B';
  const u = ['B', 'KB', 'MB', 'GB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
}

export function exportsPage(root, session) {
  const { params } = parse();
  let destroyed = false;
  let timer = null;
  const list = h('div', { id: 'exports-list' });
  if (!session.probed) {
    clear(root).append(h('div', { class: 'page-head' }, h('h1', { text: 'Exports' })), h('p', { class: 'muted', text: 'Checking what this key may do…' }));
    return { destroy() {} };
  }
  if (!session.canExport) {
    clear(root).append(h('div', { class: 'page-head' }, h('h1', { text: 'Exports' })),
      h('p', { class: 'notice', id: 'exports-forbidden', text: session.exportReason || 'Exports are for admins of organisations whose plan includes them.' }));
    return { destroy() {} };
  }
  const picks = new Set(DEFAULT_PICK);
  const colBoxes = [...EXTRA_COLUMNS, ...EXPORT_COLUMNS].map((c) => h('label', { class: 'check' },
    h('input', { type: 'checkbox', 'data-col': c, checked: picks.has(c), onchange: (ev) => { if (ev.target.checked) picks.add(c); else picks.delete(c); } }), ' ', c));
  const desc = h('input', { type: 'text', id: 'export-description', placeholder: 'Description', maxlength: 1024 });
  const gzip = h('input', { type: 'checkbox', id: 'export-gzip' });
  const form = h('form', { class: 'export-form', id: 'export-form' },
    h('h2', { text: 'New export from the filters above' }),
    h('div', { class: 'columns-picker', id: 'export-columns' }, colBoxes),
    h('div', { class: 'fields' }, h('label', { class: 'field grow' }, h('span', { text: 'Description' }), desc),
      h('label', { class: 'check' }, gzip, ' gzip'),
      h('button', { type: 'button', class: 'link', text: 'all columns', onclick: () => { for (const b of colBoxes) { const i = b.querySelector('input'); i.checked = true; picks.add(i.dataset.col); } } }),
      h('button', { type: 'submit', id: 'export-create', text: 'Create export' })));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!picks.size) { toast('Pick at least one column', 'error'); return; }
    const order = [...EXTRA_COLUMNS, ...EXPORT_COLUMNS].filter((c) => picks.has(c));
    try {
      const r = await api('v1/logs/exports', { method: 'POST', body: { filters: apiFilters(parse().params, true), requested_data: order, description: desc.value.trim() || `Logs ${new Date().toISOString()}`, compression: gzip.checked ? 'gzip' : 'none' } });
      toast(`Export created: ${fmtNum(r.total)} logs. Start it to write the file.`);
      refresh();
    } catch (e) { toast(e.message, 'error'); }
  });
  clear(root).append(h('div', { class: 'page-head' }, h('h1', { text: 'Exports' })), filterBar({ defaultRange: '24h' }), form, h('h2', { text: 'Exports of this workspace' }), list);

  const act = async (id, what) => {
    try {
      if (what === 'download') {
        const r = await api(`v1/logs/exports/${encodeURIComponent(id)}/download`);
        const a = h('a', { href: r.signed_url, download: '', class: 'offscreen', rel: 'noopener' });
        document.body.appendChild(a);
        a.click();
        a.remove();
        toast('Download started');
        return;
      }
      await api(`v1/logs/exports/${encodeURIComponent(id)}/${what}`, { method: 'POST' });
      toast(what === 'start' ? 'Export started' : 'Export cancelled');
      refresh();
    } catch (e) { toast(e.message, 'error'); }
  };

  async function refresh() {
    clearTimeout(timer);
    try {
      const r = await api('v1/logs/exports');
      if (destroyed) return;
      const data = r.data || [];
      const rows = data.map((x) => {
        const p = x.progress || {};
        const pct = p.rows_total ? Math.min(100, Math.round((100 * p.rows_done) / p.rows_total)) : (x.status === 'success' ? 100 : 0);
        const bar = h('div', { class: 'bar' });
        bar.style.width = pct + '%';
        return h('tr', { 'data-export': x.id, 'data-status': x.status },
          h('td', null, h('div', { text: x.description || x.id }), h('div', { class: 'muted small', text: x.id })),
          h('td', null, h('span', { class: 'badge st-' + x.status, text: x.status }), x.error ? h('div', { class: 'error small', text: x.error }) : null),
          h('td', null, h('div', { class: 'progress', role: 'progressbar', 'aria-valuenow': pct, 'aria-valuemin': 0, 'aria-valuemax': 100 }, bar),
            h('div', { class: 'muted small', text: `${fmtNum(p.rows_done || 0)} / ${fmtNum(p.rows_total || x.total_records || 0)} rows · ${bytes(p.bytes)}` })),
          h('td', { class: 'small', text: (x.requested_data || []).join(', ') || 'all columns' }),
          h('td', { text: fmtTime(x.created_at) }),
          h('td', { class: 'actions' },
            x.status === 'draft' || x.status === 'failed' || x.status === 'stopped' ? h('button', { type: 'button', class: 'start', text: 'Start', onclick: () => act(x.id, 'start') }) : null,
            x.status === 'in_progress' ? h('button', { type: 'button', class: 'secondary cancel', text: 'Cancel', onclick: () => act(x.id, 'cancel') }) : null,
            x.status === 'success' ? h('button', { type: 'button', class: 'download', text: 'Download', onclick: () => act(x.id, 'download') }) : null));
      });
      clear(list).appendChild(data.length
        ? h('table', { class: 'grid exports' }, h('thead', null, h('tr', null, ['Export', 'Status', 'Progress', 'Columns', 'Created', ''].map((t) => h('th', { text: t })))), h('tbody', null, rows))
        : h('p', { class: 'muted', text: 'No exports yet.' }));
      if (data.some((x) => x.status === 'in_progress')) timer = setTimeout(refresh, 1500);
    } catch (e) {
      clear(list).appendChild(h('p', { class: 'error', text: e.message }));
    }
  }
  refresh();
  void params;
  return { destroy() { destroyed = true; clearTimeout(timer); } };
}
