package api

import (
	"bytes"
	"net/http/httptest"
	"os"
	"testing"

	"logpipe/lib/tenant"
)

// BenchmarkPostNDJSON is the hot path of a gateway posting realistic ~1.9 KB
// events as NDJSON: decode, validate, apply the tenant, encode (Kafka faked).
// It guards the ingest throughput ratio of scripts/bench/ingest.sh.
func BenchmarkPostNDJSON(b *testing.B) {
	body, err := os.ReadFile("testdata/events.ndjson")
	if err != nil {
		b.Fatal(err)
	}
	lines := bytes.Count(body, []byte("\n"))
	hs := newHarness(b, Options{}, nil)
	hs.logs.discard = true
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest("POST", "/v1/logs", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/x-ndjson")
			req.Header.Set(tenant.HeaderAPIKey, testKey)
			w := httptest.NewRecorder()
			hs.engine.ServeHTTP(w, req)
			if w.Code != 200 {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	})
	b.ReportMetric(float64(b.N*lines)/b.Elapsed().Seconds(), "events/s")
}
