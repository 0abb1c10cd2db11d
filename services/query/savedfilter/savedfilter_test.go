package savedfilter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/gin-gonic/gin"

	"logpipe/lib/tenant"
	"logpipe/lib/testenv"
)

type fixture struct {
	engine *gin.Engine
	keys   map[string]string // name -> API key
}

func setup(t *testing.T) fixture {
	t.Helper()
	gin.SetMode(gin.TestMode)
	_, conn := testenv.ClickHouse(t)
	file := filepath.Join(t.TempDir(), "keys.json")
	f := fixture{keys: map[string]string{}}
	for _, k := range []struct {
		name, org, ws string
		role          tenant.Role
	}{
		{"adminA", "org-a", "ws-a1", tenant.RoleAdmin},
		{"memberA", "org-a", "ws-a2", tenant.RoleMember},
		{"member2A", "org-a", "ws-a1", tenant.RoleMember},
		{"adminB", "org-b", "ws-b", tenant.RoleAdmin},
	} {
		key, _, err := tenant.AddKey(file, k.org, k.ws, k.role, tenant.PlanProduction)
		if err != nil {
			t.Fatal(err)
		}
		f.keys[k.name] = key
	}
	reg, err := tenant.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	f.engine = gin.New()
	New(conn, testenv.Logger()).Register(f.engine.Group("/", tenant.Authenticate(reg)))
	return f
}

func (f fixture) do(t *testing.T, method, path, key string, body any) (int, map[string]any) {
	t.Helper()
	var buf bytes.Buffer
	if body != nil {
		if s, ok := body.(string); ok {
			buf.WriteString(s)
		} else if err := json.NewEncoder(&buf).Encode(body); err != nil {
			t.Fatal(err)
		}
	}
	req := httptest.NewRequest(method, path, &buf)
	req.Header.Set(tenant.HeaderAPIKey, f.keys[key])
	w := httptest.NewRecorder()
	f.engine.ServeHTTP(w, req)
	var out map[string]any
	_ = json.Unmarshal(w.Body.Bytes(), &out)
	return w.Code, out
}

func names(t *testing.T, f fixture, key string) []string {
	t.Helper()
	code, out := f.do(t, http.MethodGet, "/v1/saved-filters", key, nil)
	if code != http.StatusOK {
		t.Fatalf("list: %d %v", code, out)
	}
	var ns []string
	for _, d := range out["data"].([]any) {
		ns = append(ns, d.(map[string]any)["name"].(string))
	}
	if int(out["total"].(float64)) != len(ns) {
		t.Errorf("total %v for %d items", out["total"], len(ns))
	}
	return ns
}

// A saved filter is visible to every key of its organisation (any workspace)
// and to no other organisation; its creator or an admin deletes it.
func TestSavedFiltersAreOrganisationWide(t *testing.T) {
	f := setup(t)
	code, created := f.do(t, http.MethodPost, "/v1/saved-filters", "memberA", map[string]any{
		"name": "prod errors", "filters": map[string]string{"page": "logs", "status_code": "500,502", "metadata": `{"env":"prod"}`}})
	if code != http.StatusOK || created["id"] == "" || created["workspace_id"] != "ws-a2" {
		t.Fatalf("create: %d %v", code, created)
	}
	id := created["id"].(string)
	for _, key := range []string{"adminA", "memberA", "member2A"} {
		if got := names(t, f, key); len(got) != 1 || got[0] != "prod errors" {
			t.Errorf("%s lists %v; want [prod errors]", key, got)
		}
	}
	_, out := f.do(t, http.MethodGet, "/v1/saved-filters", "adminA", nil)
	item := out["data"].([]any)[0].(map[string]any)
	if fs := item["filters"].(map[string]any); fs["metadata"] != `{"env":"prod"}` || fs["status_code"] != "500,502" {
		t.Errorf("filters came back as %v", fs)
	}
	if got := names(t, f, "adminB"); len(got) != 0 {
		t.Errorf("another organisation lists %v; want nothing", got)
	}
	if code, _ := f.do(t, http.MethodDelete, "/v1/saved-filters/"+id, "adminB", nil); code != http.StatusNotFound {
		t.Errorf("delete from another organisation: %d; want 404", code)
	}
	if code, _ := f.do(t, http.MethodDelete, "/v1/saved-filters/"+id, "member2A", nil); code != http.StatusForbidden {
		t.Errorf("delete by another member: %d; want 403", code)
	}
	if code, _ := f.do(t, http.MethodDelete, "/v1/saved-filters/"+id, "adminA", nil); code != http.StatusOK {
		t.Errorf("delete by an admin: %d; want 200", code)
	}
	if got := names(t, f, "memberA"); len(got) != 0 {
		t.Errorf("after delete: %v; want nothing", got)
	}
	if code, _ := f.do(t, http.MethodDelete, "/v1/saved-filters/"+id, "adminA", nil); code != http.StatusNotFound {
		t.Errorf("second delete: %d; want 404", code)
	}
}

func TestSavedFilterValidation(t *testing.T) {
	f := setup(t)
	for _, body := range []any{
		`{"name": ""}`,
		`{"name": "x", "filters": {"bad key!": "v"}}`,
		`{"name": "x", "unknown": 1}`,
		`not json`,
		map[string]any{"name": string(bytes.Repeat([]byte("n"), MaxNameChars+1))},
		map[string]any{"name": "x", "filters": map[string]string{"v": string(bytes.Repeat([]byte("v"), MaxValueBytes+1))}},
	} {
		if code, out := f.do(t, http.MethodPost, "/v1/saved-filters", "adminA", body); code != http.StatusBadRequest {
			t.Errorf("%.80v: %d %v; want 400", body, code, out)
		}
	}
	if got := names(t, f, "adminA"); len(got) != 0 {
		t.Errorf("refused filters were stored: %v", got)
	}
}

// Without a tenant scope nothing is read or written.
func TestSavedFiltersNeedAScope(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	s := New(conn, testenv.Logger())
	if _, err := s.List(context.Background(), tenant.Scope{}); !errors.Is(err, tenant.ErrNoScope) {
		t.Errorf("List without a scope: %v; want tenant.ErrNoScope", err)
	}
	if err := s.write(context.Background(), tenant.Scope{}, SavedFilter{ID: "sf_x", Name: "x"}, false); !errors.Is(err, tenant.ErrNoScope) {
		t.Errorf("write without a scope: %v; want tenant.ErrNoScope", err)
	}
}
