package server

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestHandlerPanicFailsOnlyItsRequest(t *testing.T) {
	reg := NewRegistry()
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	p := NewPanics(reg, "test", log)
	e, _ := NewEngine(log, reg, nil, WithPanics(p))
	var nilMap map[string]int
	e.GET("/boom", func(c *gin.Context) { nilMap["x"] = 1 })
	e.GET("/fine", func(c *gin.Context) { c.String(http.StatusOK, "ok") })
	srv := httptest.NewServer(e)
	defer srv.Close()
	get := func(path string) int {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for range 2 {
		if st := get("/boom"); st != http.StatusInternalServerError {
			t.Fatalf("panicking handler answered %d; want 500", st)
		}
		if st := get("/fine"); st != http.StatusOK {
			t.Fatalf("the next request answered %d; want 200", st)
		}
	}
	if n := testutil.ToFloat64(p.total.WithLabelValues("http GET /boom")); n != 2 {
		t.Fatalf("logpipe_test_panics_total = %v; want 2", n)
	}
	// a second counter for the same service shares the first
	again := NewPanics(reg, "test", log)
	var got error
	func() {
		defer again.Recover("job", func(err error) { got = err })
		panic(errors.New("bad job"))
	}()
	if got == nil || testutil.ToFloat64(p.total.WithLabelValues("job")) != 1 {
		t.Fatalf("Recover: err %v, count %v; want the panic as an error, counted once", got, testutil.ToFloat64(p.total.WithLabelValues("job")))
	}
}
