// The console's entry point: sign in with an API key (kept in sessionStorage
// only), the navigation, and the router that renders the page of the URL.
import { h, clear } from './dom.js';
import { api, getKey, setKey, signOut, APIError } from './api.js';
import { parse, href } from './route.js';
import { logsPage } from './logs.js';
import { analyticsPage } from './analytics.js';
import { exportsPage } from './exports.js';
import { tracesPage, sharedPage } from './traces.js';
import { FILTER_PARAMS } from './filters.js';

const app = document.getElementById('app');
const session = { canExport: false, exportReason: '', probed: false };
let current = null; // {page, arg, query, view}

// checkKey verifies a key with a cheap call (no log scan).
async function checkKey(key) {
  await api('v1/saved-filters', { key });
}

// probeExports learns whether the key may export (admins of plans with
// exports) and updates the navigation when it knows.
async function probeExports() {
  try {
    await api('v1/logs/exports');
    session.canExport = true;
  } catch (e) {
    session.canExport = false;
    session.exportReason = e instanceof APIError ? e.message : 'Exports are unavailable.';
  }
  session.probed = true;
  document.body.dataset.exports = session.canExport ? 'yes' : 'no';
  const nav = document.querySelector('nav.topnav');
  if (nav && current) nav.replaceWith(navBar(current.page));
  if (current && current.page === 'exports') { current.view.destroy(); current = null; render(); }
}

function signInPage(message) {
  const key = h('input', { type: 'password', id: 'api-key', autocomplete: 'off', placeholder: 'lp_…', required: true, 'aria-label': 'API key' });
  const err = h('p', { class: 'error', id: 'signin-error', text: message || '' });
  const form = h('form', { class: 'signin', id: 'signin-form' },
    h('h1', { text: 'logpipe' }),
    h('p', { text: 'Sign in with an API key. It is kept in this browser tab for this session only and sent only to this API.' }),
    key, h('button', { type: 'submit', id: 'signin-submit', text: 'Sign in' }), err);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    const k = key.value.trim();
    try {
      await checkKey(k);
      setKey(k);
      start();
    } catch (e) {
      err.textContent = e.status === 401 ? 'This API key is not valid.' : 'Could not sign in: ' + e.message;
    }
  });
  clear(app).appendChild(form);
  key.focus();
}

// navBar links the pages, carrying the current filters and time range along.
function navBar(page) {
  const shared = new URLSearchParams();
  for (const [k, v] of parse().params) if (FILTER_PARAMS.includes(k) || k === 'range') shared.set(k, v);
  const item = (p, label) => h('a', { href: href(p, shared), class: p === page ? 'active' : '', id: 'nav-' + p, text: label });
  return h('nav', { class: 'topnav' },
    h('span', { class: 'brand', text: 'logpipe' }),
    item('logs', 'Logs'), item('analytics', 'Analytics'), session.canExport ? item('exports', 'Exports') : null,
    h('span', { class: 'spacer' }),
    h('button', { type: 'button', class: 'secondary', id: 'signout', text: 'Sign out', onclick: () => { reset(); history.replaceState(null, '', location.pathname); signInPage('Signed out.'); } }));
}

const PAGES = { logs: logsPage, analytics: analyticsPage, exports: exportsPage, traces: tracesPage, shared: sharedPage };

function render() {
  const r = parse();
  const query = r.params.toString();
  if (current && current.page === r.page && current.arg === r.arg && current.query === query) return;
  if (current && current.page === r.page && current.arg === r.arg && current.view.handles && current.view.handles(current.query, query)) {
    current.query = query;
    current.view.update(r);
    return;
  }
  if (current) current.view.destroy();
  const make = PAGES[r.page] || logsPage;
  const main = h('main', { id: 'page-' + r.page, class: 'page' });
  clear(app).append(navBar(r.page), main);
  current = { page: r.page, arg: r.arg, query, view: make(main, session) };
  document.title = `logpipe — ${r.page[0].toUpperCase()}${r.page.slice(1)}`;
}

// start renders the page of the URL at once when the tab holds a key (a bad
// key is caught by the first call that answers 401), else the sign-in form.
function start() {
  if (!getKey()) { signInPage(); return; }
  if (!session.probed) probeExports();
  render();
}

// reset forgets the key and what it may do, and leaves the current page.
function reset() {
  if (current) current.view.destroy();
  current = null;
  signOut();
  Object.assign(session, { canExport: false, exportReason: '', probed: false });
  delete document.body.dataset.exports;
}

window.addEventListener('logpipe:unauthorized', () => {
  reset();
  signInPage('Your key is not valid (any more); sign in again.');
});
window.addEventListener('hashchange', () => { if (getKey()) render(); });
window.addEventListener('popstate', () => { if (getKey()) render(); });
window.addEventListener('logpipe:route', () => { if (getKey()) render(); });
start();
