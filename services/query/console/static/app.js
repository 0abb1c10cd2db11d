// The console's entry point: sign in with an API key (kept in sessionStorage
// only), the navigation, and the router that renders the page of the URL.
import { h, clear } from './dom.js';
import { api, getKey, setKey, signOut, APIError } from './api.js';
import { parse, href } from './route.js';
import { logsPage } from './logs.js';
import { analyticsPage } from './analytics.js';
import { exportsPage } from './exports.js';
import { tracesPage, sharedPage } from './traces.js';

const app = document.getElementById('app');
const session = { canExport: false, exportReason: '' };
let current = null; // {page, arg, query, view}

// checkKey verifies a key against the API and learns what it may see.
async function checkKey(key) {
  await api('v1/logs', { key, query: { page_size: 1 } });
  try {
    await api('v1/logs/exports', { key });
    session.canExport = true;
  } catch (e) {
    session.canExport = false;
    session.exportReason = e instanceof APIError ? e.message : 'Exports are unavailable.';
  }
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
      start.checked = true;
      start();
    } catch (e) {
      err.textContent = e.status === 401 ? 'This API key is not valid.' : 'Could not sign in: ' + e.message;
    }
  });
  clear(app).appendChild(form);
  key.focus();
}

function nav(page) {
  const item = (p, label) => h('a', { href: href(p), class: p === page ? 'active' : '', id: 'nav-' + p, text: label });
  return h('nav', { class: 'topnav' },
    h('span', { class: 'brand', text: 'logpipe' }),
    item('logs', 'Logs'), item('analytics', 'Analytics'), session.canExport ? item('exports', 'Exports') : null,
    h('span', { class: 'spacer' }),
    h('button', { type: 'button', class: 'secondary', id: 'signout', text: 'Sign out', onclick: () => { signOut(); location.hash = ''; signInPage('Signed out.'); } }));
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
  clear(app).append(nav(r.page), main);
  current = { page: r.page, arg: r.arg, query, view: make(main, session) };
  document.title = `logpipe — ${r.page[0].toUpperCase()}${r.page.slice(1)}`;
}

async function start() {
  const key = getKey();
  if (!key) { signInPage(); return; }
  if (!start.checked) {
    try {
      await checkKey(key);
      start.checked = true;
    } catch (e) {
      if (e.status === 401) signOut();
      signInPage(e.status === 401 ? 'Your key is no longer valid; sign in again.' : 'Could not reach the API: ' + e.message);
      return;
    }
  }
  render();
}

window.addEventListener('hashchange', () => { if (getKey()) render(); });
window.addEventListener('popstate', () => { if (getKey()) render(); });
window.addEventListener('logpipe:route', () => { if (getKey()) render(); });
start();
