package openapicheck

import (
	"testing"

	"github.com/gin-gonic/gin"
)

// The check itself must be able to fail: a handler missing from the document
// and a documented operation without a handler are both reported.
func TestCheckReportsDrift(t *testing.T) {
	var rec recorder
	Check(&rec, "query", gin.RoutesInfo{{Method: "GET", Path: "/v1/not-documented/:id"}})
	if rec.errors < 2 {
		t.Errorf("got %d errors; want the undocumented handler and the unserved operations reported", rec.errors)
	}
	ops := Operations(t, "query")
	if len(ops) == 0 {
		t.Fatal("the document assigns no operation to query")
	}
}

type recorder struct {
	testing.TB
	errors int
}

func (r *recorder) Helper()                   {}
func (r *recorder) Errorf(string, ...any)     { r.errors++ }
func (r *recorder) Fatalf(f string, a ...any) { panic("fatal: " + f) }
