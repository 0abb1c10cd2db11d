package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/segmentio/kafka-go"

	"logpipe/lib/apierr"
	"logpipe/lib/logevent"
	"logpipe/lib/tenant"
)

// Request headers of the product's API.
const (
	HeaderTraceID      = "x-portkey-trace-id"
	HeaderSpanID       = "x-portkey-span-id"
	HeaderSpanName     = "x-portkey-span-name"
	HeaderParentSpanID = "x-portkey-parent-span-id"
	HeaderMetadata     = "x-portkey-metadata"
	HeaderDebug        = "x-portkey-debug"
)

// reqContext is what a request's headers say about all of its events.
type reqContext struct {
	traceID string
	// traceGiven is true when the caller sent x-portkey-trace-id; a
	// generated trace id only applies to "Insert a Log" items.
	traceGiven                   bool
	spanID, spanName, parentSpan string
	metaKeys, metaValues         []string
	user                         string
	// dnt is DO NOT TRACK (x-portkey-debug: false).
	dnt bool
}

func (h *Handler) requestContext(c *gin.Context) (reqContext, *logevent.FieldError) {
	rc := reqContext{traceID: c.GetHeader(HeaderTraceID), spanID: c.GetHeader(HeaderSpanID),
		spanName: c.GetHeader(HeaderSpanName), parentSpan: c.GetHeader(HeaderParentSpanID)}
	rc.traceGiven = rc.traceID != ""
	if !rc.traceGiven {
		rc.traceID = logevent.NewID()
	}
	if len(rc.traceID) > h.o.Limits.MaxStringLen {
		return rc, &logevent.FieldError{Field: HeaderTraceID, Reason: fmt.Sprintf("is longer than %d bytes", h.o.Limits.MaxStringLen)}
	}
	rc.dnt = strings.EqualFold(strings.TrimSpace(c.GetHeader(HeaderDebug)), "false")
	if raw := c.GetHeader(HeaderMetadata); raw != "" {
		var m map[string]any
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			return rc, &logevent.FieldError{Field: HeaderMetadata, Reason: "must be a JSON object of string values"}
		}
		if len(m) > h.o.Limits.MaxMetadataKeys {
			return rc, &logevent.FieldError{Field: HeaderMetadata, Reason: fmt.Sprintf("has %d keys; the limit is %d", len(m), h.o.Limits.MaxMetadataKeys)}
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v, ok := m[k].(string)
			switch {
			case !ok:
				return rc, &logevent.FieldError{Field: HeaderMetadata + "." + k, Reason: "must be a string"}
			case !logevent.MetadataKeyPattern.MatchString(k):
				return rc, &logevent.FieldError{Field: HeaderMetadata + "." + k, Reason: "key must match " + logevent.MetadataKeyPattern.String()}
			case len([]rune(v)) > h.o.Limits.MaxMetadataValueLen:
				return rc, &logevent.FieldError{Field: HeaderMetadata + "." + k, Reason: fmt.Sprintf("is longer than %d characters", h.o.Limits.MaxMetadataValueLen)}
			}
			rc.metaKeys, rc.metaValues = append(rc.metaKeys, k), append(rc.metaValues, v)
			if k == "_user" {
				rc.user = v
			}
		}
	}
	return rc, nil
}

// prepared is an event ready for Kafka, or the reason it is not. It does not
// point into the input the event was decoded from.
type prepared struct {
	msg      kafka.Message
	id       string
	errs     []logevent.FieldError
	tooLarge bool
}

// prepare applies the API key's tenant, the request headers, id and
// created_at rules and DO NOT TRACK to it, validates and encodes it into a.
// It changes *it; the caller may reuse it for the next item.
func (h *Handler) prepare(it *item, p tenant.Principal, rc *reqContext, a *arena) prepared {
	e := &it.ev
	e.OrganisationID, e.WorkspaceID, e.APIKeyID = p.OrganisationID, p.WorkspaceID, p.KeyID
	e.RetentionDays = uint16(min(p.RetentionDays, 65535))
	if e.TraceID == "" && (rc.traceGiven || it.insert) {
		e.TraceID = rc.traceID
	}
	if e.SpanID == "" {
		e.SpanID = rc.spanID
	}
	if e.SpanName == "" {
		e.SpanName = rc.spanName
	}
	if e.ParentSpanID == "" {
		e.ParentSpanID = rc.parentSpan
	}
	for i, k := range rc.metaKeys {
		if _, ok := e.Metadata(k); !ok {
			e.MetadataKey = append(e.MetadataKey, k)
			e.MetadataValue = append(e.MetadataValue, rc.metaValues[i])
		}
	}
	if e.User == "" {
		e.User, _ = e.Metadata("_user")
	}
	if e.ID == "" {
		e.ID = logevent.NewID()
	} else {
		e.ID = strings.Clone(e.ID) // it may point into the reused input
	}
	if !it.hasCreatedAt {
		if t, ok := logevent.IDTime(e.ID); ok {
			e.CreatedAt = t
		} else {
			e.CreatedAt = logevent.MillisOf(h.now())
		}
	}
	if rc.dnt || e.IsTracked == 0 {
		e.DropBodies()
	}
	n, err := h.o.Redactor.Event(e)
	if err != nil {
		return prepared{id: e.ID, errs: []logevent.FieldError{{Field: "headers", Reason: "must be a JSON object: " + err.Error()}}}
	}
	if n > 0 {
		h.m.redacted.Add(float64(n))
	}
	free := a.free()
	b, errs, err := e.ValidateAppend(free, h.o.Limits, &it.checks)
	if errs != nil {
		return prepared{id: e.ID, errs: errs}
	}
	if err != nil {
		return prepared{id: e.ID, errs: []logevent.FieldError{{Reason: err.Error()}}}
	}
	key := e.Key()
	if n := len(b) + len(key); n > h.o.MaxEventBytes {
		return prepared{id: e.ID, tooLarge: true, errs: []logevent.FieldError{{Field: "",
			Reason: fmt.Sprintf("the event is %d bytes encoded; the limit is %d (bodies included)", n, h.o.MaxEventBytes)}}}
	}
	return prepared{id: e.ID, msg: kafka.Message{Key: key, Value: a.keep(free, b)}}
}

// insertResponse answers a fully accepted POST /v1/logs.
type insertResponse struct {
	Status  string   `json:"status"`
	Message string   `json:"message"`
	LogIDs  []string `json:"log_ids"`
}

func (h *Handler) postLogs(c *gin.Context) {
	p := tenant.From(c)
	kind, err := contentKind(c.Request)
	if err != nil {
		apierr.Abort(c, http.StatusUnsupportedMediaType, apierr.CodeUnsupported, err.Error())
		return
	}
	rc, fe := h.requestContext(c)
	if fe != nil {
		abortFields(c, http.StatusBadRequest, apierr.CodeInvalid, "invalid request header "+fe.Field, []logevent.FieldError{*fe})
		return
	}
	c.Header(HeaderTraceID, rc.traceID)
	b := &budget{h: h}
	defer b.releaseAll()
	body, done, ok := h.openBody(c, b)
	if !ok {
		return
	}
	defer done()
	if kind == kindNDJSON {
		h.stream(c, p, &rc, body, b)
		return
	}
	hint := int64(-1)
	if body == c.Request.Body {
		hint = c.Request.ContentLength
	}
	raw, err := b.readAll(body, h.o.MaxBodyBytes, hint)
	if err != nil {
		h.bodyError(c, err)
		return
	}
	h.m.bytesIn.Add(float64(len(raw)))
	items, isArray, err := splitJSON(raw, h.o.MaxBatchEvents)
	if err != nil {
		var tl errTooLarge
		if errors.As(err, &tl) {
			h.m.rejected.WithLabelValues(reasonTooLarge).Add(float64(h.o.MaxBatchEvents))
			apierr.Abort(c, http.StatusRequestEntityTooLarge, apierr.CodeTooLarge,
				fmt.Sprintf("an array may hold at most %d events; split it or stream NDJSON", h.o.MaxBatchEvents))
			return
		}
		h.m.rejected.WithLabelValues(reasonInvalid).Inc()
		apierr.Abort(c, http.StatusBadRequest, apierr.CodeInvalid, err.Error())
		return
	}
	h.m.reqEvents.Observe(float64(len(items)))
	it := new(item) // one for every element: the event escapes to the heap
	a := new(arena)
	msgs := make([]kafka.Message, 0, len(items))
	ids := make([]string, 0, len(items))
	var fields []logevent.FieldError
	bad, tooLarge := 0, 0
	for i, raw := range items {
		errs := decodeItem(raw, it)
		var pr prepared
		if errs == nil {
			pr = h.prepare(it, p, &rc, a)
			errs = pr.errs
		}
		if errs != nil {
			bad++
			if pr.tooLarge {
				tooLarge++
			}
			for _, fe := range errs {
				if isArray {
					fe.Field = itemPath(i, fe.Field)
				}
				fields = append(fields, fe)
			}
			continue
		}
		msgs = append(msgs, pr.msg)
		ids = append(ids, pr.id)
	}
	if bad > 0 {
		a.release() // nothing was produced
		h.m.rejected.WithLabelValues(reasonInvalid).Add(float64(bad - tooLarge))
		h.m.rejected.WithLabelValues(reasonTooLarge).Add(float64(tooLarge))
		status, code := http.StatusBadRequest, apierr.CodeInvalid
		if tooLarge == bad {
			status, code = http.StatusRequestEntityTooLarge, apierr.CodeTooLarge
		}
		msg := "the log event is invalid; it was not accepted"
		if isArray {
			msg = fmt.Sprintf("%d of %d log events are invalid; none of the request was accepted", bad, len(items))
		}
		abortFields(c, status, code, msg, fields)
		return
	}
	if status, body := h.publish(c.Request.Context(), p, msgs); status != 0 {
		if status == http.StatusServiceUnavailable {
			h.setRetryAfter(c)
		}
		c.AbortWithStatusJSON(status, body) // the arena is dropped: the writer may still read it
		return
	}
	a.release()
	c.JSON(http.StatusOK, insertResponse{Status: "success", Message: plural(len(ids), "log") + " inserted", LogIDs: ids})
}

// publish reserves quota for msgs and produces them. It returns status 0 when
// Kafka acknowledged all of them, else the error status and body to answer.
func (h *Handler) publish(ctx context.Context, p tenant.Principal, msgs []kafka.Message) (int, apierr.Body) {
	d := h.quota.Reserve(p, len(msgs))
	if !d.Allowed {
		h.m.rejected.WithLabelValues(reasonQuota).Add(float64(len(msgs)))
		reset := time.Date(h.now().UTC().Year(), h.now().UTC().Month()+1, 1, 0, 0, 0, 0, time.UTC)
		return http.StatusTooManyRequests, apierr.New(apierr.CodeQuotaExceeded, fmt.Sprintf(
			"monthly log limit reached: the %s plan includes %d logs per month and this organisation has sent %d this month, so these %s would exceed it; none was accepted. The count resets on %s; upgrade to the production plan for more",
			p.Plan, d.Limit, d.Used, plural(len(msgs), "log"), reset.Format("2006-01-02")))
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.o.ProduceTimeout)
	defer cancel()
	if err := h.logs.Produce(ctx, msgs...); err != nil {
		h.quota.Release(d)
		h.m.rejected.WithLabelValues(reasonUnavailable).Add(float64(len(msgs)))
		h.log.Warn("kafka unavailable; answering 503", "err", err, "events", len(msgs))
		return http.StatusServiceUnavailable, apierr.New(apierr.CodeUnavailable,
			"Kafka did not acknowledge the logs; none of them is guaranteed to be stored: retry the same request (events with ids are kept once)")
	}
	h.quota.Commit(d)
	h.m.accepted.Add(float64(len(msgs)))
	return 0, apierr.Body{}
}

// splitJSON returns the objects of a JSON body: the object itself, or the
// elements of an array (at most max, else errTooLarge).
func splitJSON(raw []byte, max int) ([][]byte, bool, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, false, fmt.Errorf("the request body is empty: send a log event, an array of them, or NDJSON")
	}
	if raw[0] != '[' {
		return [][]byte{raw}, false, nil
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	if _, err := d.Token(); err != nil {
		return nil, true, fmt.Errorf("malformed JSON: %w", err)
	}
	var items [][]byte
	for d.More() {
		if len(items) == max {
			return nil, true, errTooLarge{int64(max)}
		}
		var m json.RawMessage
		if err := d.Decode(&m); err != nil {
			return nil, true, fmt.Errorf("malformed JSON in element %d: %w", len(items), err)
		}
		items = append(items, m)
	}
	if _, err := d.Token(); err != nil {
		return nil, true, fmt.Errorf("malformed JSON: %w", err)
	}
	if d.InputOffset() != int64(len(raw)) {
		return nil, true, fmt.Errorf("malformed JSON: trailing data after the array")
	}
	if len(items) == 0 {
		return nil, true, fmt.Errorf("the array is empty: send at least one log event")
	}
	return items, true, nil
}

func itemPath(i int, field string) string {
	if field == "" {
		return "[" + strconv.Itoa(i) + "]"
	}
	return "[" + strconv.Itoa(i) + "]." + field
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

func abortFields(c *gin.Context, status int, code, msg string, fields []logevent.FieldError) {
	b := apierr.New(code, msg)
	b.Error.Fields = fields
	c.AbortWithStatusJSON(status, b)
}

// openBody returns the request body after its Content-Encoding, holding the
// decoder's memory in b; on an error it answers the request (415, 400 or 503)
// and ok is false.
func (h *Handler) openBody(c *gin.Context, b *budget) (body io.Reader, done func(), ok bool) {
	body, done, err := decodedBody(c.Request, b)
	if err != nil {
		var ue errUnsupportedEncoding
		if errors.As(err, &ue) {
			apierr.Abort(c, http.StatusUnsupportedMediaType, apierr.CodeUnsupported, err.Error())
		} else {
			h.bodyError(c, err)
		}
		return nil, nil, false
	}
	return body, done, true
}

func (h *Handler) bodyError(c *gin.Context, err error) {
	var tl errTooLarge
	switch {
	case errors.Is(err, errOverloaded):
		h.m.rejected.WithLabelValues(reasonOverloaded).Inc()
		h.unavailable(c, apierr.CodeOverloaded, err.Error())
	case errors.As(err, &tl):
		h.m.rejected.WithLabelValues(reasonTooLarge).Inc()
		apierr.Abort(c, http.StatusRequestEntityTooLarge, apierr.CodeTooLarge, err.Error())
	default:
		apierr.Abort(c, http.StatusBadRequest, apierr.CodeInvalid, err.Error())
	}
}

// lineError is the result of a rejected NDJSON line (1-based).
type lineError struct {
	Line   int                   `json:"line"`
	Code   string                `json:"code"`
	Fields []logevent.FieldError `json:"fields"`
}

// streamResponse answers an NDJSON stream line by line: log_ids of the
// accepted lines in order, errors of the rejected ones. When Kafka or the
// quota stopped the stream, error says why and processed_lines how far it got:
// lines after it were not read.
type streamResponse struct {
	Error          *apierr.Detail `json:"error,omitempty"`
	Status         string         `json:"status"`
	Message        string         `json:"message"`
	Accepted       int            `json:"accepted"`
	Rejected       int            `json:"rejected"`
	ProcessedLines int            `json:"processed_lines"`
	LogIDs         []string       `json:"log_ids"`
	Errors         []lineError    `json:"errors,omitempty"`
	// ErrorsTruncated is true when more lines were rejected than listed.
	ErrorsTruncated bool `json:"errors_truncated,omitempty"`
}

const maxListedErrors = 1000

// readerPool holds the NDJSON readers; 64 KiB reads take a 100-event
// request body in a few syscalls.
var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 64<<10) }}

const streamChunkBytes = 4 << 20

// chunkPool holds the NDJSON handler's message chunks, which grow to a
// request's events up to StreamChunkEvents (about 150 bytes a message).
var chunkPool = sync.Pool{New: func() any { return new([]kafka.Message) }}

func (h *Handler) stream(c *gin.Context, p tenant.Principal, rc *reqContext, body io.Reader, b *budget) {
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(body)
	defer func() { br.Reset(nil); readerPool.Put(br) }()
	lr := &lineReader{r: br, maxLine: 2 * h.o.MaxEventBytes}
	res := streamResponse{LogIDs: []string{}}
	// kafka-go copies the messages it is given, never the slice: the chunk
	// is reused by later requests whatever the produce call returned.
	chunkp := chunkPool.Get().(*[]kafka.Message)
	chunk := *chunkp
	defer func() { clear(chunk[:cap(chunk)]); *chunkp = chunk[:0]; chunkPool.Put(chunkp) }()
	var chunkIDs []string
	chunkBytes := 0
	tooLarge := 0
	a := new(arena)
	reject := func(line int, code string, fields []logevent.FieldError) {
		res.Rejected++
		if len(res.Errors) < maxListedErrors {
			res.Errors = append(res.Errors, lineError{Line: line, Code: code, Fields: fields})
		} else {
			res.ErrorsTruncated = true
		}
	}
	// flush produces the chunk; after it succeeded nothing reads the arena
	// any more and it is reused, after a failure it is dropped.
	flush := func() bool {
		if len(chunk) == 0 {
			a.release()
			return true
		}
		h.m.reqEvents.Observe(float64(len(chunk)))
		status, eb := h.publish(c.Request.Context(), p, chunk)
		if status != 0 {
			a = new(arena)
			res.Error = &eb.Error
			if status == http.StatusServiceUnavailable {
				h.setRetryAfter(c)
			}
			c.AbortWithStatusJSON(status, finishStream(&res))
			return false
		}
		a.release()
		res.Accepted += len(chunk)
		res.LogIDs = append(res.LogIDs, chunkIDs...)
		b.give(int64(chunkBytes))
		chunk, chunkIDs, chunkBytes = chunk[:0], chunkIDs[:0], 0
		return true
	}
	it := new(item) // one for every line: the event escapes to the heap
	line := 0
	for {
		raw, long, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			res.Error = &apierr.Detail{Code: apierr.CodeInvalid, Message: err.Error()}
			if !flush() {
				return
			}
			c.AbortWithStatusJSON(http.StatusBadRequest, finishStream(&res))
			return
		}
		if line == h.o.MaxStreamLines {
			if !flush() {
				return
			}
			h.m.rejected.WithLabelValues(reasonTooLarge).Inc()
			res.Error = &apierr.Detail{Code: apierr.CodeTooLarge, Message: fmt.Sprintf(
				"the stream holds more than %d lines; the first %d were processed (see accepted and log_ids): send the rest in another request", line, line)}
			c.AbortWithStatusJSON(http.StatusRequestEntityTooLarge, finishStream(&res))
			return
		}
		line++
		res.ProcessedLines = line
		h.m.bytesIn.Add(float64(len(raw)))
		if long {
			tooLarge++
			h.m.rejected.WithLabelValues(reasonTooLarge).Inc()
			reject(line, apierr.CodeTooLarge, []logevent.FieldError{{Reason: fmt.Sprintf("the line is longer than %d bytes", lr.maxLine)}})
			continue
		}
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		if err := b.take(int64(len(raw))); err != nil {
			res.Error = &apierr.Detail{Code: apierr.CodeOverloaded, Message: err.Error()}
			h.m.rejected.WithLabelValues(reasonOverloaded).Inc()
			if !flush() {
				return
			}
			h.setRetryAfter(c)
			c.AbortWithStatusJSON(http.StatusServiceUnavailable, finishStream(&res))
			return
		}
		chunkBytes += len(raw)
		errs := decodeItem(raw, it)
		var pr prepared
		if errs == nil {
			pr = h.prepare(it, p, rc, a)
			errs = pr.errs
		}
		if errs != nil {
			code := apierr.CodeInvalid
			if pr.tooLarge {
				code = apierr.CodeTooLarge
				tooLarge++
				h.m.rejected.WithLabelValues(reasonTooLarge).Inc()
			} else {
				h.m.rejected.WithLabelValues(reasonInvalid).Inc()
			}
			reject(line, code, errs)
			continue
		}
		chunk = append(chunk, pr.msg)
		chunkIDs = append(chunkIDs, pr.id)
		if len(chunk) >= h.o.StreamChunkEvents || chunkBytes >= streamChunkBytes {
			if !flush() {
				return
			}
		}
	}
	if !flush() {
		return
	}
	status := http.StatusOK
	switch {
	case res.Accepted == 0 && res.Rejected == 0:
		status = http.StatusBadRequest
		res.Error = &apierr.Detail{Code: apierr.CodeInvalid, Message: "the stream holds no events: send one JSON event per line"}
	case res.Accepted == 0 && res.Rejected == tooLarge:
		status = http.StatusRequestEntityTooLarge
		res.Error = &apierr.Detail{Code: apierr.CodeTooLarge, Message: "every line is too large; none was accepted"}
	case res.Accepted == 0:
		status = http.StatusBadRequest
		res.Error = &apierr.Detail{Code: apierr.CodeInvalid, Message: "every line is invalid; none was accepted"}
	case res.Rejected > 0:
		status = http.StatusMultiStatus
	}
	c.JSON(status, finishStream(&res))
}

func finishStream(res *streamResponse) *streamResponse {
	switch {
	case res.Error == nil && res.Rejected == 0:
		res.Status = "success"
	case res.Accepted > 0:
		res.Status = "partial"
	default:
		res.Status = "failed"
	}
	res.Message = fmt.Sprintf("%s accepted, %s rejected", plural(res.Accepted, "log"), plural(res.Rejected, "log"))
	if res.Error != nil {
		res.Message += "; stopped after line " + strconv.Itoa(res.ProcessedLines) + ": " + res.Error.Message
	}
	return res
}
