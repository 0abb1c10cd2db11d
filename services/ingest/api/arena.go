package api

import "sync"

// arenaBlockSize is the size of one block of encoded events, in bytes. A
// 100-event request of 1.9 KB gateway events fills three; the unused tail of
// a request's last block is what a request holds beyond its events.
const arenaBlockSize = 64 << 10

// arenaBlocks are free blocks, reused by later requests.
var arenaBlocks = sync.Pool{New: func() any { b := make([]byte, 0, arenaBlockSize); return &b }}

// arena holds the encoded events of one request in pooled blocks, so that
// encoding an event costs no allocation of its own (nor its zeroing and
// collection). Events larger than a block get their own allocation.
//
// kafka-go reads a message's value until the produce call returns, and a
// failed or timed-out produce may leave the writer holding it longer: the
// blocks go back to the pool (release) only after every message encoded into
// them was acknowledged; otherwise the arena is dropped and the collector
// frees its blocks once nothing refers to them.
type arena struct {
	blocks []*[]byte
}

// free returns an empty slice of the current block's free capacity, to
// append one event to.
func (a *arena) free() []byte {
	if len(a.blocks) == 0 {
		a.blocks = append(a.blocks, arenaBlocks.Get().(*[]byte))
	}
	b := *a.blocks[len(a.blocks)-1]
	return b[len(b):]
}

// keep records that enc, appended to what free returned, is in use, and
// returns it capped so that appending to it cannot reach the next event.
// When enc did not fit and went elsewhere, the next event starts a new block.
func (a *arena) keep(free, enc []byte) []byte {
	enc = enc[:len(enc):len(enc)]
	last := a.blocks[len(a.blocks)-1]
	if cap(free) > 0 && len(enc) > 0 && len(enc) <= cap(free) && &free[:1][0] == &enc[0] {
		*last = (*last)[:len(*last)+len(enc)]
		return enc
	}
	if len(enc) <= arenaBlockSize {
		// the block is (nearly) full; a fresh one takes the next events
		a.blocks = append(a.blocks, arenaBlocks.Get().(*[]byte))
	}
	return enc
}

// release returns the blocks to the pool. Call it only when no message
// encoded into the arena is in use any more (all were acknowledged).
func (a *arena) release() {
	for _, b := range a.blocks {
		*b = (*b)[:0]
		arenaBlocks.Put(b)
	}
	a.blocks = a.blocks[:0]
}
