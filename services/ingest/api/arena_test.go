package api

import (
	"bytes"
	"testing"
)

// Events appended through an arena, of sizes that fill blocks exactly, leave
// gaps, and exceed a block, keep their bytes while later ones are added, and
// a released arena's blocks come back empty.
func TestArenaKeepsEveryEvent(t *testing.T) {
	var a arena
	var kept, want [][]byte
	for i, n := range []int{100, arenaBlockSize - 100, 1, arenaBlockSize + 1, 2000, arenaBlockSize, 3, 40000, 40000, 0x7f} {
		free := a.free()
		enc := append(free, bytes.Repeat([]byte{byte('a' + i)}, n)...)
		v := a.keep(free, enc)
		if cap(v) != len(v) {
			t.Fatalf("event %d: cap %d beyond its length %d: an append could overwrite the next event", i, cap(v), len(v))
		}
		kept, want = append(kept, v), append(want, bytes.Clone(enc))
	}
	for i := range kept {
		if !bytes.Equal(kept[i], want[i]) {
			t.Fatalf("event %d changed after later events were added", i)
		}
	}
	a.release()
	if len(a.blocks) != 0 {
		t.Fatalf("%d blocks after release; want 0", len(a.blocks))
	}
	if free := a.free(); len(free) != 0 || cap(free) != arenaBlockSize {
		t.Fatalf("a block after release has len %d, cap %d; want 0, %d", len(free), cap(free), arenaBlockSize)
	}
}
