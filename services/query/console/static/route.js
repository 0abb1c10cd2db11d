// The whole view lives in the URL's fragment: #/page[/arg]?param=value&...
// (filters under the API's own parameter names, plus the console's: range,
// search, cols, widths, log, live...). A filtered view is therefore a link.

export function parse() {
  const raw = location.hash.replace(/^#\/?/, '');
  const qi = raw.indexOf('?');
  const path = qi >= 0 ? raw.slice(0, qi) : raw;
  const params = new URLSearchParams(qi >= 0 ? raw.slice(qi + 1) : '');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { page: parts[0] || 'logs', arg: parts.slice(1).join('/'), params };
}

export function href(page, params, arg) {
  let s = '#/' + page;
  if (arg) s += '/' + encodeURIComponent(arg);
  const q = params ? params.toString() : '';
  return q ? s + '?' + q : s;
}

// go navigates to a view; replace avoids a history entry (typing in filters).
export function go(page, params, { replace = false, arg = '' } = {}) {
  const target = href(page, params, arg);
  if (location.hash === target) return;
  if (replace) history.replaceState(null, '', target);
  else history.pushState(null, '', target);
  window.dispatchEvent(new Event('logpipe:route'));
}

// setParams changes some parameters of the current view (null deletes).
export function setParams(changes, opts = {}) {
  const r = parse();
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === undefined || v === '') r.params.delete(k);
    else r.params.set(k, v);
  }
  go(r.page, r.params, { replace: !!opts.replace, arg: r.arg });
}
