package logevent

import (
	"encoding/json"
	"io/fs"
	"testing"

	gojson "github.com/goccy/go-json"

	"logpipe/schemas"
)

// BenchmarkDecode guards the consumer's hot path: the fast decoder against
// encoding/json and goccy/go-json on the full example event. Measured on a
// shared 2-core machine (-benchtime=2s -count=3): fast 3700-4400 ns/op and 4
// allocs, goccy/go-json 7000-8400 ns/op and 20 allocs, encoding/json
// 18100-19300 ns/op and 44 allocs, so Decode stays.
func BenchmarkDecode(b *testing.B) {
	full, err := fs.ReadFile(schemas.FS, "event/testdata/valid/full.json")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("impl=fast", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(full)))
		for b.Loop() {
			if _, err := Decode(full); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(full)))
		for b.Loop() {
			e := New()
			if err := json.Unmarshal(full, &e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=goccy-go-json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(full)))
		for b.Loop() {
			e := New()
			if err := gojson.Unmarshal(full, &e); err != nil {
				b.Fatal(err)
			}
		}
	})
}
