package console

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"logpipe/lib/logevent"
	"logpipe/query/export"
)

func engine(t *testing.T) (*gin.Engine, *Handler) {
	t.Helper()
	gin.SetMode(gin.TestMode)
	h, err := New()
	if err != nil {
		t.Fatal(err)
	}
	e := gin.New()
	h.Register(e)
	return e, h
}

func get(e *gin.Engine, path string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	e.ServeHTTP(w, req)
	return w
}

// Every console response, found or not, carries the strict policy.
func TestSecurityHeaders(t *testing.T) {
	e, _ := engine(t)
	for _, path := range []string{"/", "/ui/app.js", "/ui/style.css", "/ui/nope.js", "/ui/../console.go"} {
		w := get(e, path)
		csp := w.Header().Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "connect-src 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, want)
			}
		}
		for _, banned := range []string{"unsafe-inline", "unsafe-eval", "*"} {
			if strings.Contains(csp, banned) {
				t.Errorf("%s: CSP %q contains %q", path, csp, banned)
			}
		}
		if w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no X-Content-Type-Options: nosniff", path)
		}
	}
}

func TestServesPageAndAssets(t *testing.T) {
	e, _ := engine(t)
	w := get(e, "/")
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") || !strings.Contains(w.Body.String(), `src="ui/app.js"`) {
		t.Fatalf("GET /: %d %s %.200s", w.Code, w.Header().Get("Content-Type"), w.Body.String())
	}
	w = get(e, "/ui/app.js")
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/javascript") {
		t.Fatalf("GET app.js: %d %s", w.Code, w.Header().Get("Content-Type"))
	}
	etag := w.Header().Get("ETag")
	if w := get(e, "/ui/app.js", "If-None-Match", etag); w.Code != http.StatusNotModified {
		t.Errorf("revalidation with the ETag: %d; want 304", w.Code)
	}
	for _, path := range []string{"/ui/missing.js", "/ui/../console.go", "/ui/index.html"} {
		if w := get(e, path); w.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d; want 404", path, w.Code)
		}
	}
}

// The page never renders API data as HTML and never evaluates strings:
// no innerHTML/outerHTML/insertAdjacentHTML/document.write/eval/new Function
// in any module, and no inline script or style in the page.
func TestNoHTMLSinks(t *testing.T) {
	_, h := engine(t)
	for name, a := range h.assets {
		src := string(a.body)
		if strings.HasSuffix(name, ".js") {
			for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setAttribute('style'", "javascript:"} {
				if strings.Contains(src, sink) {
					t.Errorf("%s uses %s", name, sink)
				}
			}
		}
		if strings.HasSuffix(name, ".html") {
			if strings.Contains(src, "<script>") || strings.Contains(src, "style=") || strings.Contains(src, "<style") {
				t.Errorf("%s has inline script or style", name)
			}
		}
	}
}

// The whole console stays light: at most 300 KB of JavaScript and CSS.
func TestSizeBudget(t *testing.T) {
	_, h := engine(t)
	if n := h.Size(); n > 300*1024 || n == 0 {
		t.Errorf("JavaScript and CSS weigh %d bytes; the budget is 300 KB", n)
	}
}

// Every module the page imports is embedded.
func TestImportsResolve(t *testing.T) {
	_, h := engine(t)
	for name, a := range h.assets {
		if !strings.HasSuffix(name, ".js") {
			continue
		}
		for _, line := range strings.Split(string(a.body), "\n") {
			if !strings.HasPrefix(line, "import ") {
				continue
			}
			i := strings.Index(line, "from './")
			if i < 0 {
				continue
			}
			mod := strings.TrimSuffix(strings.TrimSuffix(line[i+len("from './"):], ";"), "'")
			if _, ok := h.assets[mod]; !ok {
				t.Errorf("%s imports %s, which is not embedded", name, mod)
			}
		}
	}
	if !slices.Contains(keys(h.assets), "app.js") {
		t.Error("app.js is not embedded")
	}
}

func keys(m map[string]asset) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// The column picker of the Exports page offers exactly the documented export
// columns, in the API's order.
func TestExportColumnsMatchAPI(t *testing.T) {
	_, h := engine(t)
	src := string(h.assets["exports.js"].body)
	m := regexp.MustCompile(`(?s)export const EXPORT_COLUMNS = \[(.*?)\];`).FindStringSubmatch(src)
	if m == nil {
		t.Fatal("exports.js has no EXPORT_COLUMNS list")
	}
	var got []string
	for _, q := range regexp.MustCompile(`'([^']+)'`).FindAllStringSubmatch(m[1], -1) {
		got = append(got, q[1])
	}
	var want []string
	for _, c := range logevent.ExportColumns() {
		want = append(want, c.Name)
	}
	if !slices.Equal(got, want) {
		t.Errorf("exports.js EXPORT_COLUMNS = %v\nthe API's export columns = %v", got, want)
	}
	for _, c := range got {
		if _, err := export.Columns([]string{c}); err != nil {
			t.Errorf("the API refuses %q: %v", c, err)
		}
	}
}
