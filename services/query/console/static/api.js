// The API client: the key lives in sessionStorage only (gone when the browser
// session ends) and travels in the x-portkey-api-key header, never in a URL.
const KEY = 'logpipe.apiKey';

export function getKey() { return sessionStorage.getItem(KEY) || ''; }
export function setKey(k) { sessionStorage.setItem(KEY, k); }
export function signOut() { sessionStorage.removeItem(KEY); }

export class APIError extends Error {
  constructor(status, body) {
    const e = body && body.error;
    super(e ? `${e.message}${e.param ? ' (' + e.param + ')' : ''}` : `HTTP ${status}`);
    this.status = status;
    this.code = e ? e.code : '';
    this.param = e ? e.param : '';
  }
}

// api(path, {method, query, body, signal}) calls the API relative to the page
// (so the console works under any base path) and returns the decoded JSON.
export async function api(path, opts = {}) {
  const url = new URL(path.replace(/^\//, ''), document.baseURI);
  if (opts.query) {
    for (const [k, v] of Object.entries(opts.query)) {
      if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, v);
    }
  }
  const headers = { 'x-portkey-api-key': opts.key || getKey() };
  let body;
  if (opts.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  const resp = await fetch(url, { method: opts.method || 'GET', headers, body, signal: opts.signal, cache: 'no-store', credentials: 'omit' });
  let data = null;
  const text = await resp.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (resp.status === 401 && !opts.key) window.dispatchEvent(new Event('logpipe:unauthorized'));
  if (!resp.ok) throw new APIError(resp.status, data);
  return data;
}
