// A small SVG time-series chart: one line per series over the time axis,
// missing buckets drawn as zero, and the values of the bucket under the
// pointer shown on hover.
import { h, svg, fmtNum, fmtTime } from './dom.js';

const W = 640, H = 200, L = 48, R = 12, T = 12, B = 28;
const COLORS = ['#2563eb', '#16a34a', '#dc2626', '#9333ea', '#ea580c', '#0891b2', '#ca8a04', '#db2777'];

// Field names that label a category rather than measure it.
const LABELS = ['status_code', 'response_status_code', 'score', 'ai_model', 'retry_success_count', 'key', 'name'];

function isNum(v) { return typeof v === 'number' || (typeof v === 'string' && v.trim() !== '' && !isNaN(Number(v))); }

// labelOf returns [label, value] of a breakdown item such as
// {response_status_code: 500, count: 3}: the labelling field and the first
// other numeric field.
function labelOf(item) {
  const keys = Object.keys(item);
  const lk = keys.find((k) => LABELS.includes(k)) || keys.find((k) => typeof item[k] === 'string') || keys[0];
  const vk = keys.find((k) => k !== lk && isNum(item[k]));
  return [String(item[lk]), vk === undefined ? NaN : Number(item[vk])];
}

// seriesOf turns data_points into named series. Time series points
// ([{timestamp, name: number | {key: number} | [{label, count}]}]) give
// {xs, series}: a nested object (status_codes) or array of items (stats)
// becomes one series per key ("status_codes 500"); missing buckets are zero.
// Points without a timestamp ([{score: 7, total: 2}]) are categories:
// {categorical: true, labels, series}, drawn as bars.
export function seriesOf(points) {
  points = Array.isArray(points) ? points : [];
  const names = [];
  const seen = new Set();
  const add = (row, name, v) => {
    if (!isNum(v)) return;
    if (!seen.has(name)) { seen.add(name); names.push(name); }
    row[name] = (row[name] || 0) + Number(v);
  };
  if (!points.some((p) => p && p.timestamp && !isNaN(Date.parse(p.timestamp)))) {
    const labels = [];
    const rows = [];
    for (const p of points) {
      if (!p || typeof p !== 'object') continue;
      const keys = Object.keys(p);
      const lk = keys.find((k) => LABELS.includes(k)) || keys.find((k) => typeof p[k] === 'string') || keys[0];
      const row = {};
      for (const k of keys) if (k !== lk) add(row, k, p[k]);
      labels.push(String(p[lk]));
      rows.push(row);
    }
    return { categorical: true, labels, xs: labels.map((_, i) => i), series: names.map((name) => ({ name, values: rows.map((r) => r[name] || 0) })) };
  }
  const xs = [];
  const rows = [];
  for (const p of points) {
    const t = Date.parse(p && p.timestamp);
    if (isNaN(t)) continue;
    const row = {};
    for (const [k, v] of Object.entries(p)) {
      if (k === 'timestamp') continue;
      if (Array.isArray(v)) {
        for (const item of v) if (item && typeof item === 'object') { const [l, n] = labelOf(item); add(row, `${k} ${l}`, n); }
      } else if (v && typeof v === 'object') {
        for (const [k2, v2] of Object.entries(v)) add(row, `${k} ${k2}`, v2);
      } else {
        add(row, k, v);
      }
    }
    xs.push(t);
    rows.push(row);
  }
  return zeroFill(xs, rows, names);
}

// zeroFill adds the buckets missing between the first and the last one (the
// smallest step between two buckets is the bucket size) with zero values.
function zeroFill(xs, rows, names) {
  const order = xs.map((_, i) => i).sort((a, b) => xs[a] - xs[b]);
  let step = Infinity;
  for (let i = 1; i < order.length; i++) step = Math.min(step, xs[order[i]] - xs[order[i - 1]]);
  const outX = [], outRows = [];
  for (let i = 0; i < order.length; i++) {
    const x = xs[order[i]];
    if (i > 0 && isFinite(step) && step > 0 && step >= 60e3) {
      let prev = outX[outX.length - 1];
      // calendar buckets (weeks, months) vary: only fill whole steps well apart
      while (x - prev >= 1.5 * step && outX.length < 5000) { prev += step; outX.push(prev); outRows.push({}); }
    }
    outX.push(x);
    outRows.push(rows[order[i]]);
  }
  return { xs: outX, series: names.map((name) => ({ name, values: outRows.map((r) => r[name] || 0) })) };
}

function niceMax(v) {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function tickLabel(t, spanMs) {
  const d = new Date(t);
  const p = (n) => String(n).padStart(2, '0');
  if (spanMs <= 2 * 86400e3) return `${p(d.getHours())}:${p(d.getMinutes())}`;
  return `${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

// chart draws {xs, series} and returns the element; show limits the series drawn.
export function chart(name, data, { show } = {}) {
  const { xs } = data;
  const series = show ? data.series.filter((s) => show.includes(s.name)) : data.series;
  const box = h('div', { class: 'chart', 'data-graph': name });
  const points = xs.length;
  const nonzero = series.reduce((n, s) => n + s.values.filter((v) => v !== 0).length, 0);
  box.dataset.points = String(points);
  box.dataset.series = String(series.length);
  box.dataset.nonzero = String(nonzero);
  if (!points || !series.length) {
    box.appendChild(h('p', { class: 'muted empty', text: 'No data in this range.' }));
    return box;
  }
  const max = niceMax(Math.max(...series.map((s) => Math.max(...s.values))));
  if (data.categorical) return bars(box, name, data.labels, series, max);
  const x0 = xs[0], x1 = xs[xs.length - 1];
  const sx = (t) => L + (x1 === x0 ? (W - L - R) / 2 : ((t - x0) / (x1 - x0)) * (W - L - R));
  const sy = (v) => T + (1 - v / max) * (H - T - B);
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart-svg', role: 'img', 'aria-label': name });
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    root.appendChild(svg('line', { x1: L, x2: W - R, y1: sy(v), y2: sy(v), class: 'grid-line' }));
    root.appendChild(svg('text', { x: L - 6, y: sy(v) + 4, 'text-anchor': 'end', class: 'axis-label' }, fmtNum(v)));
  }
  const ticks = Math.min(6, xs.length);
  for (let i = 0; i < ticks; i++) {
    const t = xs[Math.round((i * (xs.length - 1)) / Math.max(1, ticks - 1))];
    root.appendChild(svg('text', { x: sx(t), y: H - 8, 'text-anchor': 'middle', class: 'axis-label' }, tickLabel(t, x1 - x0)));
  }
  series.forEach((s, si) => {
    const d = s.values.map((v, i) => `${i ? 'L' : 'M'}${sx(xs[i]).toFixed(1)},${sy(v).toFixed(1)}`).join('');
    root.appendChild(svg('path', { d, class: 'series', stroke: COLORS[si % COLORS.length], 'data-series': s.name, 'data-nonzero': s.values.filter((v) => v !== 0).length }));
    if (xs.length <= 60) {
      s.values.forEach((v, i) => { if (v !== 0) root.appendChild(svg('circle', { cx: sx(xs[i]), cy: sy(v), r: 2.5, fill: COLORS[si % COLORS.length] })); });
    }
  });
  const cursor = svg('line', { y1: T, y2: H - B, class: 'cursor hidden' });
  root.appendChild(cursor);
  const tip = h('div', { class: 'chart-tip hidden' });
  root.addEventListener('pointermove', (ev) => {
    const m = root.getScreenCTM();
    if (!m) return;
    const pt = new DOMPoint(ev.clientX, ev.clientY).matrixTransform(m.inverse());
    let best = 0;
    for (let i = 1; i < xs.length; i++) if (Math.abs(sx(xs[i]) - pt.x) < Math.abs(sx(xs[best]) - pt.x)) best = i;
    cursor.setAttribute('x1', sx(xs[best]));
    cursor.setAttribute('x2', sx(xs[best]));
    cursor.classList.remove('hidden');
    tip.replaceChildren(h('div', { class: 'tip-time', text: fmtTime(new Date(xs[best]).toISOString()) }),
      ...series.map((s, si) => { const sw = h('span', { class: 'swatch' }); sw.style.background = COLORS[si % COLORS.length]; return h('div', null, sw, h('span', { text: `${s.name}: ${fmtNum(s.values[best], 4)}` })); }));
    tip.classList.remove('hidden');
    const rect = box.getBoundingClientRect();
    tip.style.left = `${Math.min(rect.width - 180, Math.max(0, ev.clientX - rect.left + 12))}px`;
    tip.style.top = `${Math.max(0, ev.clientY - rect.top - 10)}px`;
  });
  root.addEventListener('pointerleave', () => { cursor.classList.add('hidden'); tip.classList.add('hidden'); });
  const legend = h('div', { class: 'legend' }, series.slice(0, 12).map((s, si) => {
    const sw = h('span', { class: 'swatch' });
    sw.style.background = COLORS[si % COLORS.length];
    return h('span', { class: 'legend-item' }, sw, h('span', { text: s.name }));
  }));
  box.append(root, tip, legend);
  return box;
}

// bars draws categories (a label per group of bars, one bar per series).
function bars(box, name, labels, series, max) {
  const sy = (v) => T + (1 - v / max) * (H - T - B);
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart-svg', role: 'img', 'aria-label': name });
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    root.appendChild(svg('line', { x1: L, x2: W - R, y1: sy(v), y2: sy(v), class: 'grid-line' }));
    root.appendChild(svg('text', { x: L - 6, y: sy(v) + 4, 'text-anchor': 'end', class: 'axis-label' }, fmtNum(v)));
  }
  const group = (W - L - R) / Math.max(1, labels.length);
  const bw = Math.max(2, (group * 0.8) / series.length);
  labels.forEach((label, i) => {
    const gx = L + i * group + group * 0.1;
    series.forEach((s, si) => {
      const v = s.values[i];
      const bar = svg('rect', { x: gx + si * bw, y: sy(v), width: bw - 1, height: Math.max(0, sy(0) - sy(v)), fill: COLORS[si % COLORS.length], class: 'series' });
      bar.appendChild(svg('title', null, `${label} · ${s.name}: ${fmtNum(v, 4)}`));
      root.appendChild(bar);
    });
    root.appendChild(svg('text', { x: gx + group * 0.4, y: H - 8, 'text-anchor': 'middle', class: 'axis-label' }, label.length > 14 ? label.slice(0, 13) + '…' : label));
  });
  const legend = h('div', { class: 'legend' }, series.map((s, si) => {
    const sw = h('span', { class: 'swatch' });
    sw.style.background = COLORS[si % COLORS.length];
    return h('span', { class: 'legend-item' }, sw, h('span', { text: s.name }));
  }));
  box.append(root, legend);
  return box;
}
