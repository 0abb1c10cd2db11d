package api

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/klauspost/compress/zstd"

	"logpipe/lib/apierr"
)

// admit sheds load before any work: beyond MaxInflightRequests concurrent
// requests the answer is 503 overloaded with Retry-After.
func (h *Handler) admit(c *gin.Context) {
	if n := h.inflightReqs.Add(1); n > h.o.MaxInflightRequests {
		h.inflightReqs.Add(-1)
		h.m.shed.Inc()
		h.unavailable(c, apierr.CodeOverloaded, "ingest is overloaded; retry later")
		return
	}
	h.m.inflight.Inc()
	defer func() {
		h.inflightReqs.Add(-1)
		h.m.inflight.Dec()
		h.m.requests.WithLabelValues(c.FullPath(), strconv.Itoa(c.Writer.Status())).Inc()
	}()
	c.Next()
}

// unavailable answers 503 with Retry-After.
func (h *Handler) unavailable(c *gin.Context, code, msg string) {
	h.setRetryAfter(c)
	apierr.Abort(c, http.StatusServiceUnavailable, code, msg)
}

func (h *Handler) setRetryAfter(c *gin.Context) {
	c.Header("Retry-After", strconv.Itoa(int((h.o.RetryAfter+time.Second-1)/time.Second)))
}

// Body kinds.
const (
	kindJSON = iota
	kindNDJSON
)

// contentKind returns the body kind of the request's Content-Type, or an error
// for a type ingest does not take (415).
func contentKind(r *http.Request) (int, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return kindJSON, nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return 0, fmt.Errorf("cannot parse Content-Type %q", ct)
	}
	switch mt {
	case "application/json", "text/json":
		return kindJSON, nil
	case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines", "application/jsonlines":
		return kindNDJSON, nil
	}
	return 0, fmt.Errorf("unsupported Content-Type %q: send application/json (one event or an array) or application/x-ndjson (one event per line)", mt)
}

// MaxZstdWindow bounds the window a zstd body may declare (8 MiB, what
// common encoders declare for streams of unknown size). While a zstd body is
// read, its declared window is held in the in-flight byte budget, so bodies
// that declare large windows in a few bytes cannot exhaust memory: they are
// refused (larger than the bound) or shed with 503 (budget exhausted).
const MaxZstdWindow = 8 << 20

var zstdPool = sync.Pool{New: func() any {
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(MaxZstdWindow), zstd.WithDecoderLowmem(true))
	if err != nil {
		panic(fmt.Sprintf("zstd decoder: %v", err))
	}
	return d
}}

// decodedBody returns the request body after Content-Encoding, and a release
// func to call when done. Decoder memory is held in b: a zstd body's declared
// window (errOverloaded when the budget is exhausted).
func decodedBody(r *http.Request, b *budget) (io.Reader, func(), error) {
	enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	switch enc {
	case "", "identity":
		return r.Body, func() {}, nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, nil, errBadEncoding{fmt.Errorf("cannot read gzip body: %w", err)}
		}
		return zr, func() { _ = zr.Close() }, nil
	case "zstd":
		br := bufio.NewReaderSize(r.Body, 4096)
		head, _ := br.Peek(zstdMaxHeader)
		window, err := zstdWindow(head)
		if err != nil {
			return nil, nil, errBadEncoding{fmt.Errorf("cannot read zstd body: %w", err)}
		}
		if window > MaxZstdWindow {
			return nil, nil, errBadEncoding{fmt.Errorf("cannot read zstd body: its frame declares a %d-byte window; the limit is %d (compress with a smaller window, e.g. zstd --long=23 or less)", window, MaxZstdWindow)}
		}
		if err := b.take(max(window, 128<<10)); err != nil {
			return nil, nil, err
		}
		d := zstdPool.Get().(*zstd.Decoder)
		if err := d.Reset(br); err != nil {
			zstdPool.Put(d)
			return nil, nil, errBadEncoding{fmt.Errorf("cannot read zstd body: %w", err)}
		}
		return d, func() { _ = d.Reset(nil); zstdPool.Put(d) }, nil
	}
	return nil, nil, errUnsupportedEncoding{enc}
}

// zstdMaxHeader is the longest zstd frame header: magic number, frame
// header descriptor, window descriptor, dictionary id, content size.
const zstdMaxHeader = 4 + 1 + 1 + 4 + 8

// zstdWindow returns the window size the first frame of a zstd stream
// declares (RFC 8878 section 3.1.1.1): its window descriptor, or its content
// size for a single-segment frame. Skippable frames declare none (0).
func zstdWindow(h []byte) (int64, error) {
	if len(h) < 4 {
		return 0, errors.New("truncated frame header")
	}
	magic := uint32(h[0]) | uint32(h[1])<<8 | uint32(h[2])<<16 | uint32(h[3])<<24
	if magic&0xFFFFFFF0 == 0x184D2A50 {
		return 0, nil
	}
	if magic != 0xFD2FB528 {
		return 0, errors.New("not a zstd frame")
	}
	if len(h) < 6 {
		return 0, errors.New("truncated frame header")
	}
	fhd := h[4]
	single := fhd&0x20 != 0
	if !single {
		wd := h[5]
		base := int64(1) << (10 + wd>>3)
		return base + base/8*int64(wd&7), nil
	}
	didSize := []int{0, 1, 2, 4}[fhd&3]
	fcsSize := []int{1, 2, 4, 8}[fhd>>6]
	off := 5 + didSize
	if len(h) < off+fcsSize {
		return 0, errors.New("truncated frame header")
	}
	var fcs uint64
	for i := fcsSize - 1; i >= 0; i-- {
		fcs = fcs<<8 | uint64(h[off+i])
	}
	if fcsSize == 2 {
		fcs += 256
	}
	if fcs > 1<<40 {
		return 1 << 40, nil
	}
	return int64(fcs), nil
}

type errBadEncoding struct{ err error }

func (e errBadEncoding) Error() string { return e.err.Error() }

type errUnsupportedEncoding struct{ enc string }

func (e errUnsupportedEncoding) Error() string {
	return fmt.Sprintf("unsupported Content-Encoding %q: send identity, gzip or zstd", e.enc)
}

// errTooLarge is a body beyond its limit.
type errTooLarge struct{ limit int64 }

func (e errTooLarge) Error() string {
	return fmt.Sprintf("request body exceeds %d bytes (after decompression)", e.limit)
}

// errOverloaded is the in-flight byte budget exhausted.
var errOverloaded = errors.New("ingest is overloaded; retry later")

// budget is a request's share of the in-flight byte budget.
type budget struct {
	h    *Handler
	held int64
}

// take holds n more bytes or fails with errOverloaded.
func (b *budget) take(n int64) error {
	if b.h.inflightBytes.Add(n) > b.h.o.MaxInflightBytes {
		b.h.inflightBytes.Add(-n)
		b.h.m.shed.Inc()
		return errOverloaded
	}
	b.held += n
	return nil
}

// give returns n bytes.
func (b *budget) give(n int64) {
	n = min(n, b.held)
	b.held -= n
	b.h.inflightBytes.Add(-n)
}

func (b *budget) releaseAll() { b.give(b.held) }

// readAll reads r up to limit bytes, holding them in the budget.
func (b *budget) readAll(r io.Reader, limit int64, sizeHint int64) ([]byte, error) {
	const step = 256 << 10
	initial := int64(step)
	if sizeHint > 0 && sizeHint <= limit {
		initial = sizeHint + 1
	}
	if err := b.take(initial); err != nil {
		return nil, err
	}
	buf := make([]byte, 0, initial)
	for {
		if len(buf) == cap(buf) {
			grow := max(int64(cap(buf)), step)
			if err := b.take(grow); err != nil {
				return nil, err
			}
			nb := make([]byte, len(buf), int64(cap(buf))+grow)
			copy(nb, buf)
			buf = nb
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, errTooLarge{limit}
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read request body: %w", err)
		}
	}
}

// lineReader reads NDJSON lines of at most maxLine bytes.
type lineReader struct {
	r       *bufio.Reader
	maxLine int
	buf     []byte
}

// next returns the next line without its newline; tooLong reports a line
// beyond maxLine (whose bytes are skipped); io.EOF ends the stream. The line
// is valid until the next call.
func (l *lineReader) next() (line []byte, tooLong bool, err error) {
	l.buf = l.buf[:0]
	for first := true; ; first = false {
		frag, err := l.r.ReadSlice('\n')
		if first && err == nil && len(frag) <= l.maxLine+2 {
			// a whole line in the reader's buffer: no copy
			return bytes.TrimRight(frag, "\r\n"), false, nil
		}
		if !tooLong {
			if len(l.buf)+len(frag) > l.maxLine+2 {
				tooLong, l.buf = true, l.buf[:0]
			} else {
				l.buf = append(l.buf, frag...)
			}
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF:
			if len(l.buf) == 0 && !tooLong {
				return nil, false, io.EOF
			}
			return bytes.TrimRight(l.buf, "\r\n"), tooLong, nil
		case err != nil:
			return nil, false, fmt.Errorf("read request body: %w", err)
		}
		return bytes.TrimRight(l.buf, "\r\n"), tooLong, nil
	}
}
