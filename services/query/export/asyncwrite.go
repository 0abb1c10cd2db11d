package export

import (
	"io"
	"sync"
)

// asyncWriter hands full buffers to a goroutine that writes them to w, so
// writing the file (a syscall that may stall on the page cache) overlaps
// with reading and encoding rows. Memory: depth+1 buffers of size bytes.
type asyncWriter struct {
	w     io.Writer
	full  chan []byte
	free  chan []byte
	cur   []byte
	depth int
	done  chan struct{}

	mu  sync.Mutex
	err error // first write error of the goroutine
}

func newAsyncWriter(w io.Writer, size, depth int) *asyncWriter {
	a := &asyncWriter{w: w, full: make(chan []byte, depth), free: make(chan []byte, depth+1), depth: depth, done: make(chan struct{})}
	for i := 0; i < depth; i++ {
		a.free <- make([]byte, 0, size)
	}
	a.cur = make([]byte, 0, size)
	go a.loop()
	return a
}

func (a *asyncWriter) loop() {
	defer close(a.done)
	for b := range a.full {
		if a.error() == nil {
			if _, err := a.w.Write(b); err != nil {
				a.mu.Lock()
				a.err = err
				a.mu.Unlock()
			}
		}
		a.free <- b[:0]
	}
}

func (a *asyncWriter) error() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

// Write buffers p; a full buffer goes to the writing goroutine.
func (a *asyncWriter) Write(p []byte) (int, error) {
	if len(a.cur) > 0 && len(a.cur)+len(p) > cap(a.cur) {
		if err := a.error(); err != nil {
			return 0, err
		}
		a.full <- a.cur
		a.cur = <-a.free
	}
	a.cur = append(a.cur, p...)
	return len(p), nil
}

// Flush returns once every byte written so far reached w, with the first
// write error.
func (a *asyncWriter) Flush() error {
	if len(a.cur) > 0 {
		a.full <- a.cur
		a.cur = <-a.free
	}
	// all other buffers back in free means nothing is in flight
	held := make([][]byte, 0, a.depth)
	for i := 0; i < a.depth; i++ {
		held = append(held, <-a.free)
	}
	for _, b := range held {
		a.free <- b
	}
	return a.error()
}

// Close flushes and stops the goroutine.
func (a *asyncWriter) Close() error {
	err := a.Flush()
	close(a.full)
	<-a.done
	return err
}
