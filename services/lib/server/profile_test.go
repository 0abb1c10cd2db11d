package server

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// A CPU profile is written once stopped (pprof's gzipped protobuf); without a
// path nothing is started, and a path that cannot be created is an error.
func TestCPUProfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpu.prof")
	stop, err := StartCPUProfile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
		t.Fatalf("the profile starts with % x; want gzip data", b[:min(len(b), 4)])
	}
	stop, err = StartCPUProfile("")
	if err != nil || stop() != nil {
		t.Fatalf("no profile: got %v; want nothing to do", err)
	}
	if _, err := StartCPUProfile(filepath.Join(t.TempDir(), "missing", "cpu.prof")); err == nil {
		t.Fatal("a profile into a missing directory started; want an error")
	}
}
