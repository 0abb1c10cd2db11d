package logevent

import (
	"encoding/json"
	"io/fs"
	"testing"

	"logpipe/schemas"
)

// BenchmarkDecode guards the consumer's hot path: the fast decoder against
// encoding/json on the full example event.
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
}
