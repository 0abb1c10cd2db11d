// A collapsible JSON viewer that stays responsive on large bodies: children
// are built only when their node is opened, long arrays and objects come in
// chunks, and long strings are cut with a button to show the rest. Values
// are text nodes, never HTML.
import { h } from './dom.js';

const CHUNK = 100;
const LONG_STRING = 2000;

export function jsonView(value, { openDepth = 4 } = {}) {
  const root = h('div', { class: 'json' });
  root.appendChild(node(null, value, 0, openDepth));
  return root;
}

function scalar(v) {
  if (v === null) return h('span', { class: 'j-null', text: 'null' });
  switch (typeof v) {
    case 'string': {
      if (v.length <= LONG_STRING) return h('span', { class: 'j-str', text: JSON.stringify(v) });
      const span = h('span', { class: 'j-str', text: JSON.stringify(v.slice(0, LONG_STRING)).slice(0, -1) + '…"' });
      const more = h('button', { type: 'button', class: 'link', text: `show all ${v.length.toLocaleString('en-US')} characters` });
      more.addEventListener('click', () => { span.textContent = JSON.stringify(v); more.remove(); });
      return h('span', null, span, ' ', more);
    }
    case 'number': return h('span', { class: 'j-num', text: String(v) });
    case 'boolean': return h('span', { class: 'j-bool', text: String(v) });
    default: return h('span', { text: String(v) });
  }
}

function keyLabel(key) {
  if (key === null) return null;
  return h('span', { class: 'j-key', text: typeof key === 'number' ? String(key) : JSON.stringify(key) }, ': ');
}

function node(key, value, depth, openDepth) {
  if (value === null || typeof value !== 'object') {
    return h('div', { class: 'j-row' }, keyLabel(key), scalar(value));
  }
  const isArr = Array.isArray(value);
  const entries = isArr ? value.map((v, i) => [i, v]) : Object.entries(value);
  const brace = isArr ? ['[', ']'] : ['{', '}'];
  if (entries.length === 0) {
    return h('div', { class: 'j-row' }, keyLabel(key), h('span', { class: 'j-punct', text: brace.join('') }));
  }
  const summary = h('summary', null, keyLabel(key),
    h('span', { class: 'j-punct', text: brace[0] }),
    h('span', { class: 'j-count', text: ` ${entries.length} ${isArr ? (entries.length === 1 ? 'item' : 'items') : (entries.length === 1 ? 'key' : 'keys')} ` }),
    h('span', { class: 'j-punct', text: brace[1] }));
  const det = h('details', { class: 'j-node' }, summary);
  const body = h('div', { class: 'j-children' });
  det.appendChild(body);
  let shown = 0;
  const more = () => {
    const end = Math.min(entries.length, shown + CHUNK);
    const frag = document.createDocumentFragment();
    for (; shown < end; shown++) frag.appendChild(node(entries[shown][0], entries[shown][1], depth + 1, openDepth));
    body.appendChild(frag);
    if (shown < entries.length) {
      const btn = h('button', { type: 'button', class: 'link', text: `show ${Math.min(CHUNK, entries.length - shown)} more of ${entries.length - shown}` });
      btn.addEventListener('click', () => { btn.remove(); more(); });
      body.appendChild(btn);
    }
  };
  det.addEventListener('toggle', () => { if (det.open && shown === 0) more(); });
  if (depth < openDepth && entries.length <= 50) det.open = true;
  return det;
}

// parseBody returns a body as a value: JSON text is parsed, anything else kept.
export function parseBody(b) {
  if (b === null || b === undefined) return null;
  if (typeof b !== 'string') return b;
  try { return JSON.parse(b); } catch { return b; }
}
