// Package openapicheck compares a service's gin routes with the operations
// the OpenAPI document (schemas/openapi/openapi.yaml) assigns to that service
// (x-logpipe-service), so the document and the handlers cannot drift.
package openapicheck

import (
	"io/fs"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"go.yaml.in/yaml/v3"

	"logpipe/schemas"
)

// Operational routes that every service has and the document leaves out.
var operational = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

var param = regexp.MustCompile(`:([A-Za-z0-9_]+)|\*([A-Za-z0-9_]+)`)

// Operations returns "METHOD /path" for every operation of service in the document.
func Operations(t testing.TB, service string) []string {
	t.Helper()
	raw, err := fs.ReadFile(schemas.FS, "openapi/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Path items also hold non-operation keys (parameters, summary, ...):
	// decode lazily and read only the operations.
	var doc struct {
		Paths map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("parse openapi.yaml: %v", err)
	}
	var ops []string
	for path, item := range doc.Paths {
		for method, node := range item {
			switch method {
			case "get", "post", "put", "patch", "delete", "head":
			default:
				continue
			}
			var op struct {
				Service string `yaml:"x-logpipe-service"`
			}
			if err := node.Decode(&op); err != nil {
				t.Fatalf("openapi.yaml: %s %s: %v", method, path, err)
			}
			if op.Service == "" {
				t.Errorf("openapi.yaml: %s %s has no x-logpipe-service", strings.ToUpper(method), path)
			}
			if op.Service == service {
				ops = append(ops, strings.ToUpper(method)+" "+path)
			}
		}
	}
	sort.Strings(ops)
	return ops
}

// Check fails t unless routes and the document's operations of service are the same set.
func Check(t testing.TB, service string, routes gin.RoutesInfo) {
	t.Helper()
	want := map[string]bool{}
	for _, op := range Operations(t, service) {
		want[op] = true
	}
	got := map[string]bool{}
	for _, r := range routes {
		if operational[r.Path] {
			continue
		}
		got[r.Method+" "+param.ReplaceAllString(r.Path, "{$1$2}")] = true
	}
	for op := range got {
		if !want[op] {
			t.Errorf("handler %s is not in schemas/openapi/openapi.yaml under x-logpipe-service: %s", op, service)
		}
	}
	for op := range want {
		if !got[op] {
			t.Errorf("openapi.yaml documents %s for %s, which has no such handler", op, service)
		}
	}
}
