// The side panel of one log: request and response (collapsible JSON, inline
// images), headers with redacted values marked, every metric, the status
// strings, ids, metadata, DO NOT TRACK, replay eligibility, the share link
// and the trace's feedback (listed and added).
import { h, clear, fmtTime, fmtNum, fmtCost, copyText, toast } from './dom.js';
import { api } from './api.js';
import { href } from './route.js';
import { jsonView, parseBody } from './json.js';
import { findImages } from './images.js';
import { badges } from './status.js';

// shareLink turns the API's share_url into a console link opening the log.
export function shareLink(shareURL) {
  const i = (shareURL || '').indexOf('/v1/logs/shared/');
  if (i < 0) return '';
  const token = shareURL.slice(i + '/v1/logs/shared/'.length);
  return location.origin + location.pathname + '#/shared/' + encodeURIComponent(token);
}

function kv(rows) {
  return h('table', { class: 'kv' }, h('tbody', null, rows.filter((r) => r && r[1] !== undefined && r[1] !== null && r[1] !== '')
    .map(([k, v, attrs]) => h('tr', attrs || null, h('th', { text: k }), h('td', null, v instanceof Node ? v : String(v))))));
}

function section(title, ...children) {
  return h('section', { class: 'panel-section' }, h('h3', { text: title }), ...children);
}

function headersTable(headers, id) {
  const obj = parseBody(headers);
  if (!obj || typeof obj !== 'object' || Object.keys(obj).length === 0) return h('p', { class: 'muted', text: 'No headers recorded.' });
  return h('table', { class: 'kv headers', id }, h('tbody', null, Object.entries(obj).map(([k, v]) => {
    const s = typeof v === 'string' ? v : JSON.stringify(v);
    const redacted = /\[REDACTED\]/.test(s);
    return h('tr', { class: redacted ? 'redacted' : null },
      h('th', { text: k }),
      h('td', null, h('span', { text: s }), redacted ? h('span', { class: 'badge redacted-mark', title: 'The gateway removed this value before logging it', text: 'redacted' }) : null));
  })));
}

function bodyView(label, body, id) {
  const v = parseBody(body);
  const images = findImages(v);
  const box = h('div', { class: 'body-view', id });
  if (v === null || v === undefined || v === '') {
    box.appendChild(h('p', { class: 'muted', text: `No ${label.toLowerCase()} body recorded.` }));
    return box;
  }
  if (images.length) {
    box.appendChild(h('div', { class: 'images' }, images.map((im) =>
      h('figure', null, h('img', { src: im.src, alt: `image from ${im.where}`, loading: 'lazy', referrerpolicy: 'no-referrer' }),
        h('figcaption', { text: im.where })))));
  }
  const raw = h('pre', { class: 'raw hidden' });
  const tree = typeof v === 'object' ? jsonView(v) : h('pre', { class: 'raw', text: String(v) });
  const toggle = h('button', { type: 'button', class: 'link', text: 'raw' });
  toggle.addEventListener('click', () => {
    if (raw.classList.contains('hidden') && !raw.textContent) raw.textContent = typeof v === 'object' ? JSON.stringify(v, null, 2) : String(v);
    raw.classList.toggle('hidden');
    tree.classList.toggle('hidden');
    toggle.textContent = raw.classList.contains('hidden') ? 'raw' : 'tree';
  });
  const copy = h('button', { type: 'button', class: 'link', text: 'copy' });
  copy.addEventListener('click', async () => {
    toast(await copyText(typeof v === 'object' ? JSON.stringify(v, null, 2) : String(v)) ? 'Copied' : 'Copy failed');
  });
  box.append(h('div', { class: 'body-tools' }, toggle, copy), tree, raw);
  return box;
}

function feedbackSection(log, refresh) {
  const list = (log.feedback || []);
  const table = list.length
    ? h('table', { class: 'grid small', id: 'feedback-list' }, h('thead', null, h('tr', null, ['Value', 'Weight', 'Weighted', 'When'].map((t) => h('th', { text: t })))),
      h('tbody', null, list.map((f) => h('tr', { class: 'feedback-row' }, h('td', { text: f.value }), h('td', { text: fmtNum(f.weight) }), h('td', { text: fmtNum(f.weighted_value) }), h('td', { text: fmtTime(f.updated_at || f.created_at) })))))
    : h('p', { class: 'muted', id: 'feedback-list', text: 'No feedback on this trace yet.' });
  if (!log.trace_id) return section('Feedback', table, h('p', { class: 'muted', text: 'This log has no trace id, so feedback cannot be attached to it.' }));
  const value = h('input', { type: 'number', min: -10, max: 10, step: 1, value: '1', id: 'feedback-value', required: true });
  const weight = h('input', { type: 'number', min: 0, max: 1, step: 0.1, value: '1', id: 'feedback-weight' });
  const form = h('form', { class: 'inline-form', id: 'feedback-form' },
    h('label', { class: 'field' }, h('span', { text: 'Value (−10..10)' }), value),
    h('label', { class: 'field' }, h('span', { text: 'Weight (0..1)' }), weight),
    h('button', { type: 'submit', text: 'Add feedback', id: 'feedback-submit' }));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const v = Number(value.value), w = Number(weight.value);
    if (!Number.isInteger(v) || v < -10 || v > 10 || !(w >= 0 && w <= 1)) { toast('Value is an integer from −10 to 10, weight from 0 to 1', 'error'); return; }
    try {
      await api('v1/feedback', { method: 'POST', body: { trace_id: log.trace_id, value: v, weight: w } });
      toast('Feedback sent; it is listed within seconds');
      refresh({ expectFeedback: list.length + 1 });
    } catch (e) { toast(e.message, 'error'); }
  });
  return section('Feedback', table, form);
}

// renderLog fills box with the panel of log (the API's detail answer).
export function renderLog(box, log, { onClose, refresh, shared = false } = {}) {
  clear(box);
  const dnt = !!log.do_not_track;
  const link = shareLink(log.share_url);
  const copyBtn = h('button', { type: 'button', id: 'copy-share', text: 'Copy share link', 'data-link': link });
  copyBtn.addEventListener('click', async () => toast(await copyText(link) ? 'Share link copied: anyone in your organisation can open it' : 'Copy failed: ' + link));
  const replay = log.replay || {};
  const replayBtn = h('button', { type: 'button', id: 'replay', class: replay.eligible ? '' : 'inactive', disabled: !replay.eligible, title: replay.eligible ? 'Copies the request body to replay it in the gateway' : replay.reason, text: replay.eligible ? 'Replay' : 'Replay unavailable' });
  replayBtn.addEventListener('click', async () => toast(await copyText(JSON.stringify(parseBody(log['request.body']), null, 2)) ? 'Request body copied for replay' : 'Copy failed'));
  const head = h('header', { class: 'panel-head' },
    h('div', null, h('h2', { text: `${log.ai_org || '—'} / ${log.ai_model || '—'}` }),
      h('div', { class: 'muted' }, h('span', { text: fmtTime(log.created_at) }), ' · ', h('code', { id: 'panel-log-id', text: log.id }))),
    h('div', { class: 'panel-actions' }, link ? copyBtn : null, replayBtn,
      onClose ? h('button', { type: 'button', class: 'secondary', id: 'panel-close', title: 'Close (Esc)', text: '✕', onclick: onClose }) : null));
  box.appendChild(head);
  if (dnt) {
    box.appendChild(h('div', { class: 'dnt', id: 'dnt', role: 'note' }, h('strong', { text: 'DO NOT TRACK' }), ' ',
      h('span', { text: log.bodies_absent_reason || 'Bodies and headers of this request were not recorded.' })));
  }
  box.appendChild(h('div', { class: 'replay-status ' + (replay.eligible ? 'ok' : 'no'), id: 'replay-status' },
    h('strong', { text: replay.eligible ? 'Replay eligible' : 'Replay not available: ' }), replay.eligible ? null : h('span', { text: replay.reason || '' })));
  box.appendChild(section('Status', badges(log.status, { full: true })));
  const code = log.response_status_code;
  box.appendChild(section('Metrics', kv([
    ['Status code', code, { class: code >= 400 ? 'err' : '' }],
    ['Outcome', log.is_success === 1 ? 'success' : 'failure'],
    ['Latency', fmtNum(log.response_time) + ' ms'],
    ['Cost', `${fmtCost(log.cost)} ${log.cost_currency || ''}`.trim()],
    ['Prompt tokens', fmtNum(log.req_units)],
    ['Completion tokens', fmtNum(log.res_units)],
    ['Thinking tokens', fmtNum(log.reasoning_units)],
    ['Total tokens', fmtNum(log.total_units)],
    ['Endpoint', log.endpoint_type],
    ['Request', `${log.request_method || ''} ${log.request_url || ''}`.trim()],
    ['Stream', log.stream_mode],
    ['Mode', log.mode],
    ['Cache', [log.cache_status, log.cache_type].filter(Boolean).join(' · ')],
    ['Retries', log.retry_attempts ? `${log.retry_attempts} attempts, success on ${log.retry_success_count}` : ''],
    ['Fallback option', log.fallback_option || ''],
    ['User', log.user],
  ])));
  const traceLink = log.trace_id && !shared ? h('a', { href: href('traces', null, log.trace_id), id: 'trace-link', text: log.trace_id }) : log.trace_id;
  box.appendChild(section('Ids', kv([
    ['Trace', traceLink],
    ['Span', log.span_id], ['Parent span', log.parent_span_id], ['Span name', log.span_name],
    ['Config', log.config], ['Prompt', log.prompt_slug], ['Prompt version', log.prompt_version_id],
    ['Virtual key', log.virtual_key], ['API key', log.api_key_id], ['Workspace', log.workspace_id],
    ['Runtime', [log.runtime, log.runtime_version].filter(Boolean).join(' ')], ['SDK', log.sdk_version],
  ])));
  const md = log.metadata || {};
  box.appendChild(section('Metadata', Object.keys(md).length
    ? h('table', { class: 'kv', id: 'metadata-table' }, h('tbody', null, Object.entries(md).map(([k, v]) => h('tr', null, h('th', { text: k }), h('td', { text: v })))))
    : h('p', { class: 'muted', text: 'No metadata.' })));
  if (!dnt) {
    box.appendChild(section('Request', bodyView('Request', log['request.body'], 'request-body')));
    box.appendChild(section('Response', bodyView('Response', log['response.body'], 'response-body')));
    box.appendChild(section('Request headers', headersTable(log['request.headers'], 'request-headers')));
    box.appendChild(section('Response headers', headersTable(log['response.headers'], 'response-headers')));
  } else {
    box.appendChild(section('Request and response', h('p', { class: 'muted', text: 'Not recorded (DO NOT TRACK).' })));
  }
  box.appendChild(feedbackSection(log, refresh || (() => {})));
}

// loadLog fetches a log (by id, or by share token) and renders it into box;
// after a feedback it polls until the feedback is listed.
export async function loadLog(box, { id, token }, opts = {}) {
  const path = token ? 'v1/logs/shared/' + encodeURIComponent(token) : 'v1/logs/' + encodeURIComponent(id);
  let stop = false;
  const show = async (expect) => {
    const log = await api(path);
    if (stop) return log;
    if (expect && (log.feedback || []).length < expect) return null;
    renderLog(box, log, { ...opts, refresh: ({ expectFeedback }) => poll(expectFeedback) });
    box.dataset.logId = log.id;
    return log;
  };
  const poll = async (expect) => {
    for (let i = 0; i < 60 && !stop; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      try { if (await show(expect)) return; } catch { /* keep polling */ }
    }
  };
  box.setAttribute('aria-busy', 'true');
  try {
    return await show(0);
  } finally {
    box.removeAttribute('aria-busy');
    box.cancel = () => { stop = true; };
  }
}
