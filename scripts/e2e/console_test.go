package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"logpipe/lib/logevent"
	"logpipe/lib/tenant"
	"logpipe/lib/testenv"
)

// Hostile content: if any of it were parsed as HTML or run as script, it
// would set window.__xss.
const (
	xssImg    = `<img src=x onerror="window.__xss=1">`
	xssScript = `<script>window.__xss=2</script>`
	xssMeta   = `<b onmouseover="window.__xss=3">hi</b><img src=x onerror=window.__xss=3>`
)

// samplePNG is a small gradient PNG as a data URL, as a multimodal request
// would carry an image.
func samplePNG(t *testing.T) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 96, 64))
	for y := 0; y < 64; y++ {
		for x := 0; x < 96; x++ {
			img.Set(x, y, color.RGBA{R: uint8(x * 2), G: uint8(y * 3), B: 200, A: 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())
}

// browserSession is one headless Chromium for a test, with a helper per tab.
type browserSession struct {
	t       *testing.T
	alloc   context.Context
	browser context.Context
	shots   string // screenshot directory
	errs    *pageErrors
	owner   *testing.T // the test that started the browser: tabs live as long as it
}

// pageErrors collects the uncaught exceptions of every tab.
type pageErrors struct {
	mu   sync.Mutex
	list []string
}

// with returns the session reporting to t (a subtest).
func (b *browserSession) with(t *testing.T) *browserSession {
	c := *b
	c.t = t
	return &c
}

func startBrowser(t *testing.T) *browserSession {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium not found: run scripts/stack.sh install (it installs Debian's chromium): %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 900),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	b := &browserSession{t: t, owner: t, alloc: alloc, errs: &pageErrors{}, shots: filepath.Join(testenv.RepoRoot(t), ".cache", "console-screenshots")}
	if err := os.MkdirAll(b.shots, 0o755); err != nil {
		t.Fatal(err)
	}
	b.browser = b.tab()
	return b
}

// tab opens a new tab: its own sessionStorage, so its own sign-in.
func (b *browserSession) tab() context.Context {
	var ctx context.Context
	var cancel context.CancelFunc
	if b.browser == nil {
		ctx, cancel = chromedp.NewContext(b.alloc)
	} else {
		ctx, cancel = chromedp.NewContext(b.browser)
	}
	b.owner.Cleanup(cancel)
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok && e.ExceptionDetails != nil {
			d := e.ExceptionDetails
			msg := fmt.Sprintf("%s at %s:%d:%d", d.Text, d.URL, d.LineNumber+1, d.ColumnNumber+1)
			if d.Exception != nil {
				msg += ": " + d.Exception.Description
			}
			b.errs.mu.Lock()
			b.errs.list = append(b.errs.list, msg)
			b.errs.mu.Unlock()
		}
	}); err != nil {
		b.t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

func (b *browserSession) run(ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	rctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := chromedp.Do(rctx, actions...); err != nil {
		b.shot(ctx, "failure")
		b.t.Fatalf("%s: %v", what, err)
	}
}

// wait polls a JavaScript condition until it is true (generous timeout for a
// slow shared machine); on timeout it saves a screenshot and fails with the
// value of show.
func (b *browserSession) wait(ctx context.Context, what, cond, show string) {
	b.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+cond+")"))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			state, _ := chromedp.Run(ctx, chromedp.Evaluate[any](show))
			b.shot(ctx, "failure")
			b.t.Fatalf("%s: not true after 90s: %s (err %v; state: %v)", what, cond, err, state)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// eval evaluates expr in the page and decodes its value into out.
func eval[T any](b *browserSession, ctx context.Context, expr string, out *T) {
	b.t.Helper()
	rctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	v, err := chromedp.Run(rctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.shot(ctx, "failure")
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	*out = v
}

// shot saves a screenshot of the tab as NAME.png under .cache/console-screenshots,
// and a copy at 60% scale under small/ (the size committed to the docs).
func (b *browserSession) shot(ctx context.Context, name string) {
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, _ = chromedp.Run(sctx, chromedp.Evaluate[chromedp.Void](`document.querySelectorAll('.toast').forEach(t => t.remove())`))
	for _, v := range []struct {
		dir   string
		scale float64
	}{{b.shots, 1}, {filepath.Join(b.shots, "small"), 0.6}} {
		size, err := chromedp.Run(sctx, chromedp.Evaluate[[]float64](`[window.innerWidth, window.innerHeight]`))
		if err != nil || len(size) != 2 {
			b.t.Logf("screenshot %s: %v", name, err)
			return
		}
		shot, err := chromedp.Call(sctx, page.CaptureScreenshot, page.CaptureScreenshotParams{
			Format: page.CaptureScreenshotFormatPng, Clip: &page.Viewport{Width: size[0], Height: size[1], Scale: v.scale}})
		if err == nil {
			err = os.MkdirAll(v.dir, 0o755)
		}
		if err == nil {
			err = os.WriteFile(filepath.Join(v.dir, name+".png"), shot.Data, 0o644)
		}
		if err != nil {
			b.t.Logf("screenshot %s: %v", name, err)
		}
	}
}

func (b *browserSession) signIn(ctx context.Context, pageURL, key string) {
	b.t.Helper()
	b.run(ctx, "open "+pageURL, chromedp.Navigate(pageURL))
	b.wait(ctx, "sign-in form", `document.querySelector('#api-key')`, `document.body.innerText`)
	b.run(ctx, "sign in", chromedp.SendKeys(chromedp.CSS("#api-key"), key), chromedp.Click(chromedp.CSS("#signin-submit")))
	b.wait(ctx, "signed in", `document.querySelector('nav.topnav')`, `document.body.innerText`)
}

// setValue sets a form field's value as typing would (input and change events).
func (b *browserSession) setValue(ctx context.Context, sel, value string) {
	b.t.Helper()
	b.wait(ctx, "field "+sel, `document.querySelector(`+jsString(sel)+`)`, `document.body.innerText.slice(0, 300)`)
	var ok bool
	eval(b, ctx, `(() => { const e = document.querySelector(`+jsString(sel)+`); e.value = `+jsString(value)+
		`; e.dispatchEvent(new Event('input', {bubbles: true})); e.dispatchEvent(new Event('change', {bubbles: true})); return e.value === `+jsString(value)+`; })()`, &ok)
	if !ok {
		b.t.Fatalf("set %s to %q: the field did not take it", sel, value)
	}
}

func (b *browserSession) click(ctx context.Context, sel string) {
	b.t.Helper()
	b.run(ctx, "click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

func (b *browserSession) go_(ctx context.Context, hash string) {
	b.t.Helper()
	b.run(ctx, "go "+hash, chromedp.Evaluate[chromedp.Void](`location.hash = `+jsString(hash)))
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// postLogs sends events to the base URL (extra headers as name, value pairs).
func postLogs(t *testing.T, s *stack, key string, body any, headers ...string) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, s.BaseURL+"/v1/logs", strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-portkey-api-key", key)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e any
		_ = json.NewDecoder(resp.Body).Decode(&e)
		t.Fatalf("POST /v1/logs: %d %v", resp.StatusCode, e)
	}
}

// consoleSeed is the data the console test browses.
type consoleSeed struct {
	all                          []logevent.Event
	staging                      int
	trace                        string // a trace of three spans with feedback
	root, child, grandchild      logevent.Event
	hostile, dnt, image, retried logevent.Event
	large                        logevent.Event // a response body of thousands of items
}

func seedConsole(t *testing.T, s *stack) consoleSeed {
	t.Helper()
	var sd consoleSeed
	now := time.Now()
	mk := func(i int) logevent.Event {
		e := event(testenv.Name("trace"))
		e.CreatedAt = logevent.MillisOf(now.Add(-time.Duration(i) * 7 * time.Minute))
		e.ID = logevent.NewID()
		e.User = []string{"alice", "bob", "carol"}[i%3]
		env := []string{"prod", "staging"}[i%2]
		e.MetadataKey, e.MetadataValue = []string{"env", "team"}, []string{env, "search"}
		if i%3 == 1 {
			e.AIOrg, e.AIModel = "anthropic", "claude-3-5-sonnet"
		}
		e.ReasoningUnits = uint32(i % 4 * 10)
		e.ResponseTime = uint32(200 + 37*i)
		e.Cost = 0.01 * float64(i+1)
		e.CacheStatus = []string{logevent.CacheMiss, logevent.CacheHit, logevent.CacheSemanticHit, logevent.CacheDisabled}[i%4]
		if i%5 == 4 {
			e.ResponseStatusCode, e.IsSuccess = []uint16{500, 429}[i%2], 0
		}
		if i%6 == 2 {
			e.RetryAttempts, e.RetrySuccessCount = 2, 2
		}
		if i%7 == 3 {
			e.Mode, e.FallbackOption = logevent.ModeFallback, 2
		}
		return e
	}
	for i := 0; i < 60; i++ { // more than one page (50): the list scrolls
		sd.all = append(sd.all, mk(i))
	}
	sd.retried = sd.all[2]
	// one trace of three spans
	sd.trace = testenv.Name("trace-tree")
	for i, name := range []string{"agent", "plan", "tool-call"} {
		e := mk(30 + i)
		e.CreatedAt = logevent.MillisOf(now.Add(-time.Minute + time.Duration(i)*100*time.Millisecond))
		e.ID = logevent.NewID()
		e.TraceID, e.SpanID, e.SpanName = sd.trace, fmt.Sprintf("span-%d", i), name
		if i > 0 {
			e.ParentSpanID = fmt.Sprintf("span-%d", i-1)
		}
		e.MetadataValue[0] = "prod"
		sd.all = append(sd.all, e)
	}
	n := len(sd.all)
	sd.root, sd.child, sd.grandchild = sd.all[n-3], sd.all[n-2], sd.all[n-1]
	// hostile bodies, headers and metadata
	h := mk(40)
	h.CreatedAt = logevent.MillisOf(now.Add(-2 * time.Minute))
	h.ID = logevent.NewID()
	h.MetadataValue[0] = "prod"
	body, _ := json.Marshal(map[string]any{"model": "gpt-4o", "messages": []any{map[string]any{"role": "user", "content": xssImg + xssScript}}})
	h.RequestBody = logevent.RawJSON(body)
	resp, _ := json.Marshal(map[string]any{"choices": []any{map[string]any{"message": map[string]any{"role": "assistant", "content": xssScript}}}, xssImg: xssScript})
	h.ResponseBody = logevent.RawJSON(resp)
	hdr, _ := json.Marshal(map[string]string{"authorization": "[REDACTED]", "x-evil": xssImg, xssScript: "v"})
	h.RequestHeaders = logevent.RawJSON(hdr)
	h.MetadataKey, h.MetadataValue = append(h.MetadataKey, "note"), append(h.MetadataValue, xssMeta)
	h.User = `<script>window.__xss=4</script>`
	sd.hostile = h
	// a multimodal request with an inline image
	im := mk(41)
	im.CreatedAt = logevent.MillisOf(now.Add(-3 * time.Minute))
	im.ID = logevent.NewID()
	im.MetadataValue[0] = "prod"
	imb, _ := json.Marshal(map[string]any{"model": "gpt-4o", "messages": []any{map[string]any{"role": "user", "content": []any{
		map[string]any{"type": "text", "text": "what is this?"},
		map[string]any{"type": "image_url", "image_url": map[string]any{"url": samplePNG(t)}}}}}})
	im.RequestBody = logevent.RawJSON(imb)
	sd.image = im
	// a large response body (about 400 KB): the viewer builds it in chunks
	lg := mk(43)
	lg.CreatedAt = logevent.MillisOf(now.Add(-5 * time.Minute))
	lg.ID = logevent.NewID()
	lg.MetadataValue[0] = "prod"
	items := make([]map[string]any, 4000)
	for i := range items {
		items[i] = map[string]any{"index": i, "embedding": []float64{0.125, -0.5, 0.25}, "text": strings.Repeat("lorem ipsum ", 6)}
	}
	big, _ := json.Marshal(map[string]any{"object": "list", "data": items})
	lg.ResponseBody = logevent.RawJSON(big)
	sd.large = lg
	sd.all = append(sd.all, h, im, lg)
	postLogs(t, s, s.KeyA, sd.all)
	// a DO NOT TRACK log
	d := mk(42)
	d.CreatedAt = logevent.MillisOf(now.Add(-4 * time.Minute))
	d.ID = logevent.NewID()
	d.MetadataValue[0] = "prod"
	postLogs(t, s, s.KeyA, d, "x-portkey-debug", "false")
	sd.dnt = d
	sd.all = append(sd.all, d)
	// feedback on the trace (the feedback graphs)
	if code, b := do(t, http.MethodPost, s.BaseURL+"/v1/feedback", s.KeyA, map[string]any{"trace_id": sd.trace, "value": 7, "weight": 0.5}); code != http.StatusOK {
		t.Fatalf("POST feedback: %d %s", code, b)
	}
	for _, e := range sd.all {
		if e.MetadataValue[0] == "staging" {
			sd.staging++
		}
	}
	eventually(t, 90*time.Second, func() error {
		_, p := list(t, s.BaseURL, s.KeyA, "page_size=1")
		if p.Total < len(sd.all) {
			return fmt.Errorf("%d of %d logs listed", p.Total, len(sd.all))
		}
		code, b := do(t, http.MethodGet, s.BaseURL+"/v1/logs/"+sd.root.ID, s.KeyA, nil)
		if code != http.StatusOK || !strings.Contains(string(b), `"weighted_value"`) {
			return fmt.Errorf("feedback not yet visible: %d", code)
		}
		return nil
	})
	return sd
}

// TestConsole drives the web console in headless Chromium against the real
// services behind the one base URL.
func TestConsole(t *testing.T) {
	s := startStack(t)
	b := startBrowser(t)
	// another workspace of organisation A (share links open there too)
	keyOther, _, err := tenant.AddKey(filepath.Join(s.dir, "keys.json"), "org-a", "ws-a-other", tenant.RoleMember, tenant.PlanProduction)
	if err != nil {
		t.Fatal(err)
	}
	sd := seedConsole(t, s)
	eventually(t, 30*time.Second, func() error {
		if code, _ := list(t, s.BaseURL, keyOther, "page_size=1"); code != http.StatusOK {
			return fmt.Errorf("new key: %d", code)
		}
		return nil
	})
	page := s.BaseURL + "/"
	ctx := b.browser
	tabs := []context.Context{ctx}

	t.Run("served with a strict policy", func(t *testing.T) {
		resp, err := http.Get(page)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe") {
			t.Errorf("CSP through the base URL: %q", csp)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Error("no nosniff through the base URL")
		}
	})

	// sign in; list
	b.run(ctx, "open", chromedp.Navigate(page))
	b.wait(ctx, "sign-in form", `document.querySelector('#api-key')`, `document.body.innerText`)
	b.shot(ctx, "signin")
	b.run(ctx, "bad key", chromedp.SendKeys(chromedp.CSS("#api-key"), "lp_wrong"), chromedp.Click(chromedp.CSS("#signin-submit")))
	b.wait(ctx, "bad key refused", `document.querySelector('#signin-error').textContent.includes('not valid')`, `document.body.innerText`)
	b.setValue(ctx, "#api-key", "")
	b.run(ctx, "sign in", chromedp.SendKeys(chromedp.CSS("#api-key"), s.KeyA), chromedp.Click(chromedp.CSS("#signin-submit")))
	b.wait(ctx, "the first page", `document.querySelectorAll('#log-rows tr').length === 50`,
		`[document.querySelectorAll('#log-rows tr').length, document.body.innerText.slice(0, 500)]`)
	// infinite scroll: scrolling to the end loads the next page on the cursor
	b.run(ctx, "scroll", chromedp.Evaluate[chromedp.Void](`document.querySelector('#logs-scroll').scrollTop = 1e9`))
	b.wait(ctx, "every seeded log listed", fmt.Sprintf(`document.querySelectorAll('#log-rows tr').length === %d && document.querySelector('#list-status').textContent.startsWith('All %d logs')`, len(sd.all), len(sd.all)),
		`[document.querySelectorAll('#log-rows tr').length, document.querySelector('#list-status').textContent]`)
	var distinct bool
	eval(b, ctx, `new Set([...document.querySelectorAll('#log-rows tr')].map(r => r.dataset.id)).size === document.querySelectorAll('#log-rows tr').length`, &distinct)
	if !distinct {
		t.Error("a log is listed twice across pages")
	}
	b.wait(ctx, "the matching total", fmt.Sprintf(`document.querySelector('#total').dataset.total === '%d'`, len(sd.all)), `document.querySelector('#total').textContent`)
	var keyInURL, keyStored bool
	eval(b, ctx, fmt.Sprintf(`location.href.includes(%s)`, jsString(s.KeyA)), &keyInURL)
	eval(b, ctx, fmt.Sprintf(`sessionStorage.getItem('logpipe.apiKey') === %s && localStorage.length === 0 && document.cookie === ''`, jsString(s.KeyA)), &keyStored)
	if keyInURL || !keyStored {
		t.Errorf("the key: in the URL %v, in sessionStorage only %v", keyInURL, keyStored)
	}
	var firstID string
	eval(b, ctx, `document.querySelector('#log-rows tr').dataset.id`, &firstID)
	if firstID != sd.all[0].ID {
		t.Errorf("first row %s; want the newest log %s", firstID, sd.all[0].ID)
	}
	var badge map[string]string
	eval(b, ctx, fmt.Sprintf(`(() => { const r = document.querySelector('#log-rows tr[data-id=%s]'); return Object.fromEntries([...r.querySelectorAll('.badge')].map(b => [b.classList[1], b.title])); })()`, jsString(sd.retried.ID)), &badge)
	if badge["retry"] != "Retry Success on 2 Tries" || badge["cache"] != "Cache Semantic Hit" {
		t.Errorf("status badges of the retried log: %v", badge)
	}
	b.wait(ctx, "an admin sees Exports", `document.body.dataset.exports === 'yes' && document.querySelector('#nav-exports')`, `document.body.dataset.exports`)
	b.run(ctx, "scroll up", chromedp.Evaluate[chromedp.Void](`document.querySelector('#logs-scroll').scrollTop = 0`))
	b.shot(ctx, "logs")

	t.Run("filter by metadata: the URL changes", func(t *testing.T) {
		b := b.with(t)
		b.setValue(ctx, "#f-metadata", "env=staging")
		b.click(ctx, "#apply-filters")
		b.wait(ctx, "URL holds the filter", `decodeURIComponent(location.hash).includes('metadata={"env":"staging"}')`, `location.hash`)
		b.wait(ctx, "filtered total", fmt.Sprintf(`document.querySelector('#total').dataset.total === '%d' && document.querySelectorAll('#log-rows tr').length === %d`, sd.staging, sd.staging),
			`[document.querySelector('#total').textContent, document.querySelectorAll('#log-rows tr').length]`)
		// the other pages open with the same filters
		b.wait(ctx, "filters carried to Analytics", `decodeURIComponent(document.querySelector('#nav-analytics').getAttribute('href')).includes('metadata={"env":"staging"}')`, `document.querySelector('#nav-analytics').getAttribute('href')`)
		// the link reproduces the view in a fresh load
		var hash string
		eval(b, ctx, `location.hash`, &hash)
		b.run(ctx, "reload", chromedp.Reload())
		b.wait(ctx, "same view after reload", fmt.Sprintf(`document.querySelectorAll('#log-rows tr').length === %d && document.querySelector('#f-metadata').value === 'env=staging'`, sd.staging), `location.hash`)
		// a metadata key as a column, and saving the view for the organisation
		b.setValue(ctx, "#md-column-key", "team")
		b.run(ctx, "open columns", chromedp.Evaluate[chromedp.Void](`document.querySelector('#columns-menu').open = true`))
		b.click(ctx, "#md-column-add")
		b.wait(ctx, "metadata column", `document.querySelector('#logs-table th[data-col="md:team"]') && document.querySelector('#log-rows td[data-col="md:team"]').textContent === 'search'`, `location.hash`)
		// hide a column; the URL keeps the choice
		b.run(ctx, "open columns", chromedp.Evaluate[chromedp.Void](`document.querySelector('#columns-menu').open = true`))
		b.click(ctx, `#columns-menu input[data-col="trace"]`)
		b.wait(ctx, "trace column hidden", `!document.querySelector('#logs-table th[data-col="trace"]') && decodeURIComponent(location.hash).includes('cols=') && !decodeURIComponent(location.hash).match(/cols=[^&]*trace/)`, `location.hash`)
		// resize a column by dragging its edge
		b.run(ctx, "drag", chromedp.Evaluate[chromedp.Void](`(() => { const g = document.querySelector('#logs-table th[data-col="model"] .resize'); const r = g.getBoundingClientRect();
			g.dispatchEvent(new PointerEvent('pointerdown', {clientX: r.left, clientY: r.top, bubbles: true}));
			window.dispatchEvent(new PointerEvent('pointermove', {clientX: r.left + 80, clientY: r.top, bubbles: true}));
			window.dispatchEvent(new PointerEvent('pointerup', {clientX: r.left + 80, clientY: r.top, bubbles: true})); })()`))
		b.wait(ctx, "width in the URL", `decodeURIComponent(location.hash).includes('model~280')`, `location.hash`)
		b.setValue(ctx, "#saved-name", "staging logs")
		b.click(ctx, "#saved-save")
		b.wait(ctx, "saved filter listed", `[...document.querySelectorAll('#saved-select option')].some(o => o.textContent === 'staging logs')`, `document.querySelector('#saved-filters') && document.body.innerText.slice(-300)`)
		b.go_(ctx, "#/logs")
		b.wait(ctx, "unfiltered again", fmt.Sprintf(`document.querySelector('#total').dataset.total === '%d' && document.querySelectorAll('#log-rows tr').length === 50`, len(sd.all)), `location.hash`)
		// a custom time range: the last 30 minutes hold the trace, hostile, image, large and DO NOT TRACK logs and the newest
		b.run(ctx, "custom range", chromedp.Evaluate[chromedp.Void](`(() => { const r = document.querySelector('#f-range'); r.value = 'custom'; r.dispatchEvent(new Event('change', {bubbles: true})); })()`))
		b.setValue(ctx, "#f-from", time.Now().Add(-30*time.Minute).Format("2006-01-02T15:04"))
		b.click(ctx, "#apply-filters")
		b.wait(ctx, "custom range in the URL", `location.hash.includes('time_of_generation_min=') && !location.hash.includes('range=')`, `location.hash`)
		var recent int
		for _, e := range sd.all {
			if e.CreatedAt.Time().After(time.Now().Add(-30 * time.Minute).Truncate(time.Minute)) {
				recent++
			}
		}
		b.wait(ctx, "custom range applied", fmt.Sprintf(`Number(document.querySelector('#total').dataset.total) >= %d && Number(document.querySelector('#total').dataset.total) < %d`, recent, len(sd.all)), `[location.hash, document.querySelector('#total').dataset.total]`)
		b.go_(ctx, "#/logs")
		// body search: only the multimodal request says "what is this?"
		b.wait(ctx, "search box", `document.querySelector('#f-search') && document.querySelector('#total').dataset.total === '`+fmt.Sprint(len(sd.all))+`'`, `location.hash`)
		b.setValue(ctx, "#f-search", "What Is This")
		b.click(ctx, "#apply-filters")
		b.wait(ctx, "search in the URL and applied", fmt.Sprintf(`location.hash.includes('search=What+Is+This') && document.querySelector('#total').dataset.total === '1' && document.querySelector('#log-rows tr').dataset.id === %s`, jsString(sd.image.ID)),
			`[location.hash, document.querySelector('#total').textContent, document.querySelector('#list-status').textContent]`)
		b.go_(ctx, "#/logs")
	})

	t.Run("open a log; j, k, Esc", func(t *testing.T) {
		b := b.with(t)
		b.wait(ctx, "rows", `document.querySelectorAll('#log-rows tr').length >= 2`, `location.hash`)
		var ids []string
		eval(b, ctx, `[...document.querySelectorAll('#log-rows tr')].slice(0, 2).map(r => r.dataset.id)`, &ids)
		if len(ids) != 2 {
			t.Fatalf("rows %v", ids)
		}
		b.click(ctx, fmt.Sprintf(`#log-rows tr[data-id="%s"]`, ids[0]))
		b.wait(ctx, "panel open", fmt.Sprintf(`document.querySelector('#panel-log-id') && document.querySelector('#panel-log-id').textContent === %s && location.hash.includes('log=%s')`, jsString(ids[0]), ids[0]), `location.hash`)
		b.shot(ctx, "log-panel")
		b.run(ctx, "press j", chromedp.KeyEvent("j"))
		b.wait(ctx, "j opens the next log", fmt.Sprintf(`location.hash.includes('log=%s') && document.querySelector('#panel-log-id').textContent === %s && document.querySelector('#log-rows tr.selected').dataset.id === %s`, ids[1], jsString(ids[1]), jsString(ids[1])), `location.hash`)
		b.run(ctx, "press k", chromedp.KeyEvent("k"))
		b.wait(ctx, "k goes back", fmt.Sprintf(`location.hash.includes('log=%s') && document.querySelector('#panel-log-id').textContent === %s`, ids[0], jsString(ids[0])), `location.hash`)
		b.run(ctx, "press Esc", chromedp.KeyEvent("\u001b"))
		b.wait(ctx, "Esc closes", `!location.hash.includes('log=') && document.querySelector('#log-panel').classList.contains('hidden')`, `location.hash`)
	})

	var shareLink string
	t.Run("feedback and share link", func(t *testing.T) {
		b := b.with(t)
		b.go_(ctx, "#/logs?log="+sd.child.ID)
		b.wait(ctx, "panel of the traced log", fmt.Sprintf(`document.querySelector('#panel-log-id') && document.querySelector('#panel-log-id').textContent === %s`, jsString(sd.child.ID)), `location.hash`)
		var before int
		eval(b, ctx, `document.querySelectorAll('#feedback-list .feedback-row').length`, &before)
		b.setValue(ctx, "#feedback-value", "-3")
		b.setValue(ctx, "#feedback-weight", "0.8")
		b.click(ctx, "#feedback-submit")
		b.wait(ctx, "the new feedback is listed", fmt.Sprintf(`document.querySelectorAll('#feedback-list .feedback-row').length === %d && [...document.querySelectorAll('#feedback-list .feedback-row td:first-child')].some(td => td.textContent === '-3')`, before+1),
			`document.querySelector('#feedback-list').textContent`)
		eval(b, ctx, `document.querySelector('#copy-share').dataset.link`, &shareLink)
		if !strings.HasPrefix(shareLink, page+"#/shared/") {
			t.Fatalf("share link %q; want %s#/shared/...", shareLink, page)
		}
	})

	t.Run("share link: another workspace of the organisation sees it, another organisation does not", func(t *testing.T) {
		b := b.with(t)
		if shareLink == "" {
			t.Skip("no share link")
		}
		other := b.tab()
		tabs = append(tabs, other)
		b.signIn(other, shareLink, keyOther)
		b.wait(other, "shared log shown", fmt.Sprintf(`document.querySelector('#panel-log-id') && document.querySelector('#panel-log-id').textContent === %s`, jsString(sd.child.ID)), `document.body.innerText`)
		b.shot(other, "shared")
		// the organisation's saved filters are there too
		b.go_(other, "#/logs")
		b.wait(other, "saved filter visible to the organisation", `[...document.querySelectorAll('#saved-select option')].some(o => o.textContent === 'staging logs')`, `document.body.innerText.slice(0, 300)`)
		// members have no Exports page
		b.wait(other, "what the member key may do is known", `document.body.dataset.exports === 'no' && document.querySelector('nav.topnav') && !document.querySelector('#nav-exports')`,
			`[document.body.dataset.exports, !!document.querySelector('#nav-exports')]`)
		b.go_(other, "#/exports")
		b.wait(other, "exports refused to a member", `document.querySelector('#exports-forbidden')`, `document.body.innerText.slice(0, 300)`)

		foreign := b.tab()
		tabs = append(tabs, foreign)
		b.signIn(foreign, shareLink, s.KeyB)
		b.wait(foreign, "not found for another organisation", `document.querySelector('#panel-error') && document.querySelector('#panel-error').textContent.startsWith('Not found')`, `document.body.innerText`)
		var leaked bool
		eval(b, foreign, fmt.Sprintf(`document.body.innerText.includes(%s)`, jsString(sd.child.ID)), &leaked)
		if leaked {
			t.Error("another organisation's page shows the log id")
		}
	})

	t.Run("hostile content renders as text", func(t *testing.T) {
		b := b.with(t)
		b.go_(ctx, "#/logs?cols=time,status,model,user,md:note&log="+sd.hostile.ID)
		b.wait(ctx, "hostile log open", fmt.Sprintf(`document.querySelector('#panel-log-id') && document.querySelector('#panel-log-id').textContent === %s`, jsString(sd.hostile.ID)), `location.hash`)
		// open every node of the bodies
		b.run(ctx, "expand", chromedp.Evaluate[chromedp.Void](`document.querySelectorAll('#log-panel details').forEach(d => d.open = true)`))
		b.wait(ctx, "payloads shown as text", fmt.Sprintf(`document.querySelector('#log-panel').innerText.includes(%s) && document.querySelector('#log-panel').innerText.includes(%s) && document.querySelector('#logs-table').innerText.includes(%s)`,
			jsString(xssScript), jsString(`onerror="window.__xss=1"`), jsString("window.__xss=3")), `document.querySelector('#log-panel').innerText.slice(0, 2000)`)
		b.wait(ctx, "redacted header marked", `document.querySelector('#request-headers tr.redacted .redacted-mark')`, `document.querySelector('#request-headers') && document.querySelector('#request-headers').outerHTML`)
		// hover everything, give any handler time to fire, then check
		b.run(ctx, "hover", chromedp.Evaluate[chromedp.Void](`document.querySelectorAll('#log-panel *, #logs-table *').forEach(e => e.dispatchEvent(new MouseEvent('mouseover', {bubbles: true})))`))
		var state struct {
			XSS     bool `json:"xss"`
			Scripts int  `json:"scripts"`
			BadImgs int  `json:"badImgs"`
			Bold    int  `json:"bold"`
		}
		eval(b, ctx, `({xss: window.__xss !== undefined, scripts: document.querySelectorAll('body script').length, badImgs: document.querySelectorAll('img[src="x"]').length, bold: document.querySelectorAll('#log-panel b, #logs-table b').length})`, &state)
		if state.XSS || state.Scripts != 0 || state.BadImgs != 0 || state.Bold != 0 {
			t.Errorf("hostile content became markup: %+v", state)
		}
		b.shot(ctx, "hostile")
	})

	t.Run("images, DO NOT TRACK, replay", func(t *testing.T) {
		b := b.with(t)
		b.go_(ctx, "#/logs?log="+sd.image.ID)
		b.wait(ctx, "inline image", `document.querySelector('#request-body .images img') && document.querySelector('#request-body .images img').src.startsWith('data:image/png;base64,') && document.querySelector('#request-body .images img').naturalWidth === 96`,
			`document.querySelector('#log-panel').innerText.slice(0, 500)`)
		b.run(ctx, "scroll to the request", chromedp.Evaluate[chromedp.Void](`document.querySelector('#request-body').closest('section').previousElementSibling.scrollIntoView()`))
		b.shot(ctx, "log-body")
		b.wait(ctx, "replay eligible", `document.querySelector('#replay-status').textContent.includes('Replay eligible')`, `document.querySelector('#replay-status').textContent`)
		b.go_(ctx, "#/logs?log="+sd.dnt.ID)
		b.wait(ctx, "DO NOT TRACK marked", fmt.Sprintf(`document.querySelector('#panel-log-id') && document.querySelector('#panel-log-id').textContent === %s && document.querySelector('#dnt') && document.querySelector('#dnt').textContent.includes('DO NOT TRACK') && !document.querySelector('#request-body')`, jsString(sd.dnt.ID)),
			`document.querySelector('#log-panel').innerText.slice(0, 500)`)
	})

	t.Run("a large body opens in chunks", func(t *testing.T) {
		b := b.with(t)
		b.go_(ctx, "#/logs?log="+sd.large.ID)
		b.wait(ctx, "large body panel", fmt.Sprintf(`document.querySelector('#panel-log-id') && document.querySelector('#panel-log-id').textContent === %s && document.querySelector('#response-body .json')`, jsString(sd.large.ID)), `document.querySelector('#log-panel').innerText.slice(0, 300)`)
		b.run(ctx, "open data", chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll('#response-body summary')].find(s => s.textContent.includes('"data"')).parentElement.open = true`))
		b.wait(ctx, "first chunk and a button for the rest", `[...document.querySelectorAll('#response-body button')].some(b => b.textContent === 'show 100 more of 3900')`, `document.querySelector('#response-body').innerText.slice(0, 500)`)
		var nodes int
		eval(b, ctx, `document.querySelectorAll('#response-body .j-row, #response-body details').length`, &nodes)
		if nodes > 2000 {
			t.Errorf("%d JSON nodes built for a body whose first 100 items are open; want it built lazily", nodes)
		}
		b.run(ctx, "press Esc", chromedp.KeyEvent("\u001b"))
		b.wait(ctx, "Esc closes", `!location.hash.includes('log=')`, `location.hash`)
	})

	t.Run("trace view", func(t *testing.T) {
		b := b.with(t)
		b.go_(ctx, "#/logs?log="+sd.grandchild.ID)
		b.wait(ctx, "trace link", `document.querySelector('#trace-link')`, `document.querySelector('#log-panel').innerText.slice(0, 300)`)
		b.click(ctx, "#trace-link")
		b.wait(ctx, "span tree", `document.querySelectorAll('.span-row').length === 3`, `document.querySelector('#trace-tree') && document.querySelector('#trace-tree').innerText`)
		var depths map[string]string
		eval(b, ctx, `Object.fromEntries([...document.querySelectorAll('.span-row')].map(r => [r.dataset.span, r.dataset.depth]))`, &depths)
		if depths["span-0"] != "0" || depths["span-1"] != "1" || depths["span-2"] != "2" {
			t.Errorf("span depths %v; want span-0 0, span-1 1, span-2 2", depths)
		}
		b.click(ctx, `.span-row[data-span="span-1"]`)
		b.wait(ctx, "span opens its log", fmt.Sprintf(`document.querySelector('#panel-log-id') && document.querySelector('#panel-log-id').textContent === %s`, jsString(sd.child.ID)), `location.hash`)
		b.shot(ctx, "trace")
	})

	t.Run("live mode shows a log ingested after the page opened", func(t *testing.T) {
		b := b.with(t)
		b.go_(ctx, "#/logs?live=1")
		b.wait(ctx, "live list", `document.querySelectorAll('#log-rows tr').length > 0 && document.querySelector('#live-toggle').getAttribute('aria-pressed') === 'true'`, `location.hash`)
		fresh := event(testenv.Name("live"))
		postLogs(t, s, s.KeyA, fresh)
		posted := time.Now()
		b.wait(ctx, "the new log on top", fmt.Sprintf(`document.querySelector('#log-rows tr').dataset.id === %s`, jsString(fresh.ID)), `document.querySelector('#log-rows tr').dataset.id`)
		t.Logf("live: the new log was on top %s after its POST was acknowledged", time.Since(posted).Round(time.Millisecond))
	})

	t.Run("every analytics chart draws seeded data", func(t *testing.T) {
		b := b.with(t)
		b.go_(ctx, "#/analytics?range=24h&group_key=env")
		b.wait(ctx, "17 charts", `document.querySelectorAll('.chart[data-graph]').length === 17`,
			`[document.querySelectorAll('.chart[data-graph]').length, [...document.querySelectorAll('.chart-slot .error')].map(e => e.textContent)]`)
		var charts map[string]int
		eval(b, ctx, `Object.fromEntries([...document.querySelectorAll('.chart[data-graph]')].map(c => [c.dataset.graph, Number(c.dataset.nonzero) * (c.querySelectorAll('.series').length > 0 ? 1 : 0)]))`, &charts)
		if len(charts) != 17 {
			t.Errorf("charts %v; want 17", charts)
		}
		for g, n := range charts {
			if n == 0 {
				t.Errorf("chart %s draws no non-zero point", g)
			}
		}
		b.wait(ctx, "group tables", `['users','ai-models','metadata'].every(g => Number((document.querySelector('table[data-group="' + g + '"]') || {dataset: {}}).dataset.rows) > 0)`,
			`document.querySelector('#groups').innerText.slice(0, 500)`)
		var envs []string
		eval(b, ctx, `[...document.querySelectorAll('table[data-group="metadata"] tbody td:first-child')].map(td => td.textContent).sort()`, &envs)
		if !slices.Contains(envs, "prod") || !slices.Contains(envs, "staging") {
			t.Errorf("metadata env groups %v; want prod and staging among them", envs)
		}
		// sorting is in the URL
		b.click(ctx, `table[data-group="users"] th[data-sort="cost"]`)
		b.wait(ctx, "sorted by cost", `location.hash.includes('sort_users=cost.desc') && document.querySelector('table[data-group="users"] th[data-sort="cost"]').getAttribute('aria-sort') === 'descending'`, `location.hash`)
		b.wait(ctx, "charts again", `document.querySelectorAll('.chart[data-graph]').length === 17`, `location.hash`)
		// hover shows the bucket's values
		b.run(ctx, "hover chart", chromedp.Evaluate[chromedp.Void](`(() => { const s = document.querySelector('.chart[data-graph="requests"] svg'); const r = s.getBoundingClientRect(); s.dispatchEvent(new PointerEvent('pointermove', {clientX: r.right - 20, clientY: r.top + r.height / 2, bubbles: true})); })()`))
		b.wait(ctx, "hover values", `!document.querySelector('.chart[data-graph="requests"] .chart-tip').classList.contains('hidden') && document.querySelector('.chart[data-graph="requests"] .chart-tip').textContent.includes('total:')`, `document.querySelector('.chart[data-graph="requests"] .chart-tip').textContent`)
		b.run(ctx, "scroll up", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
		b.shot(ctx, "analytics")
	})

	t.Run("an export runs to a download", func(t *testing.T) {
		b := b.with(t)
		dl := t.TempDir()
		if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dl}); err != nil {
			t.Fatalf("allow downloads: %v", err)
		}
		b.go_(ctx, "#/exports?range=24h")
		b.wait(ctx, "export form", `document.querySelector('#export-form') && document.querySelector('#export-columns input[data-col="ai_model"]')`, `document.body.innerText.slice(0, 500)`)
		b.run(ctx, "pick columns", chromedp.Evaluate[chromedp.Void](`document.querySelectorAll('#export-columns input').forEach(i => { if (i.checked !== ['id', 'created_at', 'ai_model', 'metadata.key', 'metadata.value'].includes(i.dataset.col)) i.click(); })`))
		b.setValue(ctx, "#export-description", "console test")
		b.click(ctx, "#export-create")
		b.wait(ctx, "draft listed", `document.querySelector('tr[data-status="draft"] button.start')`, `document.querySelector('#exports-list').innerText`)
		b.click(ctx, `tr[data-status="draft"] button.start`)
		b.wait(ctx, "export finished", `document.querySelector('tr[data-status="success"] button.download')`, `document.querySelector('#exports-list').innerText`)
		b.shot(ctx, "exports")
		b.click(ctx, `tr[data-status="success"] button.download`)
		var file string
		eventually(t, 90*time.Second, func() error {
			entries, _ := os.ReadDir(dl)
			for _, e := range entries {
				if !strings.HasSuffix(e.Name(), ".crdownload") {
					if info, err := e.Info(); err == nil && info.Size() > 0 {
						file = filepath.Join(dl, e.Name())
						return nil
					}
				}
			}
			return fmt.Errorf("no finished download in %s: %v", dl, entries)
		})
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
		if len(lines) < len(sd.all) {
			t.Errorf("downloaded %d lines; want at least the %d seeded logs", len(lines), len(sd.all))
		}
		var first map[string]any
		if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
			t.Fatalf("first line: %v: %s", err, lines[0])
		}
		for _, k := range []string{"id", "created_at", "ai_model", "metadata.key", "metadata.value"} {
			if _, ok := first[k]; !ok {
				t.Errorf("exported line lacks %s: %v", k, first)
			}
		}
		if _, ok := first["request.body"]; ok || len(first) != 5 {
			t.Errorf("exported line has other columns than picked: %v", first)
		}
	})

	for _, tab := range tabs {
		var xss bool
		eval(b, tab, `window.__xss !== undefined`, &xss)
		if xss {
			t.Error("a hostile payload ran in a tab (window.__xss is set)")
		}
	}
	b.errs.mu.Lock()
	defer b.errs.mu.Unlock()
	for _, e := range b.errs.list {
		t.Errorf("uncaught exception in the page: %s", e)
	}
}
