package openapicheck

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// The validator loads the document and refuses responses it does not
// describe: an undocumented status, a body of the wrong shape, an unknown path.
func TestValidatorRefusesUndocumentedResponses(t *testing.T) {
	v := Load(t)
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:1/v1/logs/abc", nil)
	h := http.Header{"Content-Type": {"application/json"}}
	if err := v.Check(req, 404, h, []byte(`{"error":{"code":"not_found","message":"no such log"}}`)); err != nil {
		t.Errorf("a documented 404: %v", err)
	}
	if err := v.Check(req, 404, h, []byte(`{"message":"no such log"}`)); err == nil {
		t.Error("a 404 without the error object passed")
	}
	if err := v.Check(req, 418, h, []byte(`{}`)); err == nil {
		t.Error("an undocumented status passed")
	}
	bad := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:1/v1/nowhere", nil)
	if err := v.Check(bad, 200, h, []byte(`{}`)); err == nil {
		t.Error("an undocumented path passed")
	}
}
