// The four status strings of a log, as compact badges whose title (hover)
// and data-status carry the exact product string.
import { h } from './dom.js';

function short(kind, s) {
  if (!s) return ['?', false];
  let m;
  switch (kind) {
    case 'cache':
      if (s === 'Cache Hit') return ['HIT', true];
      if (s === 'Cache Semantic Hit') return ['SEM HIT', true];
      if (s === 'Cache Miss') return ['MISS', false];
      if (s === 'Cache Refreshed') return ['REFR', true];
      return ['NO CACHE', false];
    case 'retry':
      if ((m = /^Retry Success on (\d+) Tries$/.exec(s))) return ['RETRY ' + m[1], true];
      if (s === 'Retry Failed') return ['RETRY FAIL', true];
      return ['NO RETRY', false];
    case 'fallback':
      if ((m = /^Fallback Triggered on Option (\d+)$/.exec(s))) return ['FB ' + m[1], true];
      if (s === 'Fallback Active') return ['FB', true];
      return ['NO FB', false];
    case 'loadbalance':
      return s === 'Loadbalancer Active' ? ['LB', true] : ['NO LB', false];
  }
  return [s, false];
}

export const STATUS_KINDS = ['cache', 'retry', 'fallback', 'loadbalance'];

export function badges(status, { full = false } = {}) {
  const st = status || {};
  return h('span', { class: 'badges' }, STATUS_KINDS.map((k) => {
    const exact = st[k] || '';
    const [text, active] = short(k, exact);
    return h('span', {
      class: `badge ${k} ${active ? 'on' : 'off'}${/Fail/.test(exact) ? ' bad' : ''}`,
      title: exact, 'data-status': exact, 'aria-label': exact, text: full ? exact : text,
    });
  }));
}
