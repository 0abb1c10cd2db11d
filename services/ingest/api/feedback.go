package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"

	"github.com/gin-gonic/gin"
	"github.com/segmentio/kafka-go"

	"logpipe/lib/apierr"
	"logpipe/lib/feedback"
	"logpipe/lib/logevent"
	"logpipe/lib/tenant"
)

// feedbackBody is the body of POST /v1/feedback (trace_id required) and of
// PUT /v1/feedback/{id} (trace_id optional). The official node SDK sends
// traceID instead of trace_id, and its update repeats the id as feedbackID
// (which its request layer turns into snake case, feedback_id, on the wire):
// all are accepted.
type feedbackBody struct {
	TraceID         string                     `json:"trace_id"`
	TraceIDSDK      string                     `json:"traceID"`
	FeedbackID      string                     `json:"feedbackID"`
	FeedbackIDSnake string                     `json:"feedback_id"`
	Value           *json.Number               `json:"value"`
	Weight          *float64                   `json:"weight"`
	Metadata        map[string]json.RawMessage `json:"metadata"`
}

// feedbackResponse is the product's answer to feedback calls.
type feedbackResponse struct {
	Status      string   `json:"status"`
	Message     string   `json:"message"`
	FeedbackIDs []string `json:"feedback_ids"`
}

const maxFeedbackBody = 1 << 20

// decodeFeedback decodes one feedback object into f (whose ids and tenant the
// caller sets), returning field errors.
func decodeFeedback(raw []byte, f *feedback.Feedback, needTrace bool, pathID string) []logevent.FieldError {
	var in feedbackBody
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	d.UseNumber()
	if err := d.Decode(&in); err != nil {
		fe := decodeError(err)
		if fe.Reason == "is not a field of the log event" {
			fe.Reason = "is not a field of feedback (trace_id, value, weight, metadata)"
		}
		return []logevent.FieldError{fe}
	}
	if d.More() {
		return []logevent.FieldError{{Reason: "malformed JSON: trailing data after the object"}}
	}
	var errs []logevent.FieldError
	add := func(field, reason string) { errs = append(errs, logevent.FieldError{Field: field, Reason: reason}) }
	f.TraceID = in.TraceID
	if f.TraceID == "" {
		f.TraceID = in.TraceIDSDK
	}
	if in.FeedbackID != "" && in.FeedbackID != pathID {
		add("feedbackID", "must be the feedback id of the path (or absent)")
	}
	if in.FeedbackIDSnake != "" && in.FeedbackIDSnake != pathID {
		add("feedback_id", "must be the feedback id of the path (or absent)")
	}
	if needTrace && f.TraceID == "" {
		add("trace_id", "is required")
	}
	if len(f.TraceID) > logevent.DefaultLimits.MaxStringLen {
		add("trace_id", fmt.Sprintf("is longer than %d bytes", logevent.DefaultLimits.MaxStringLen))
	}
	var v int64
	var verr error
	if in.Value != nil {
		v, verr = in.Value.Int64()
	}
	switch {
	case in.Value == nil:
		add("value", "is required")
	case verr != nil:
		add("value", fmt.Sprintf("must be an integer from %d to %d", feedback.MinValue, feedback.MaxValue))
	case v < feedback.MinValue || v > feedback.MaxValue:
		add("value", fmt.Sprintf("must be an integer from %d to %d, got %d", feedback.MinValue, feedback.MaxValue, v))
	default:
		f.Value = int8(v)
	}
	f.Weight = 1
	if in.Weight != nil {
		f.Weight = *in.Weight
	}
	keys := make([]string, 0, len(in.Metadata))
	for k := range in.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var v string
		if err := json.Unmarshal(in.Metadata[k], &v); err != nil {
			add("metadata."+k, "must be a string")
			continue
		}
		if n := len([]rune(v)); n > logevent.DefaultLimits.MaxMetadataValueLen {
			add("metadata."+k, fmt.Sprintf("is %d characters; the limit is %d", n, logevent.DefaultLimits.MaxMetadataValueLen))
		}
		f.MetadataKey = append(f.MetadataKey, k)
		f.MetadataValue = append(f.MetadataValue, v)
	}
	if len(keys) > logevent.DefaultLimits.MaxMetadataKeys {
		add("metadata", fmt.Sprintf("has %d keys; the limit is %d", len(keys), logevent.DefaultLimits.MaxMetadataKeys))
	}
	if errs == nil {
		errs = f.Validate()
	}
	return errs
}

func (h *Handler) readFeedback(c *gin.Context) ([]byte, bool) {
	kind, err := contentKind(c.Request)
	if err != nil || kind != kindJSON {
		apierr.Abort(c, http.StatusUnsupportedMediaType, apierr.CodeUnsupported, "send feedback as application/json")
		return nil, false
	}
	b := &budget{h: h}
	defer b.releaseAll()
	body, done, ok := h.openBody(c, b)
	if !ok {
		return nil, false
	}
	defer done()
	raw, err := b.readAll(body, maxFeedbackBody, -1)
	if err != nil {
		h.bodyError(c, err)
		return nil, false
	}
	return raw, true
}

// indexedObject reads an object whose keys are exactly "0", "1", ... "n-1"
// and whose values are objects as the array of those values: the official
// node SDK sends an array of feedback that way (its request layer rewrites
// arrays into objects keyed by index). At most max items.
func indexedObject(raw []byte, max int) ([][]byte, bool) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil || len(obj) == 0 || len(obj) > max {
		return nil, false
	}
	items := make([][]byte, len(obj))
	for i := range items {
		v, ok := obj[strconv.Itoa(i)]
		if t := bytes.TrimSpace(v); !ok || len(t) == 0 || t[0] != '{' {
			return nil, false
		}
		items[i] = v
	}
	return items, true
}

// newFeedback returns a feedback record of p with id (new when empty).
func (h *Handler) newFeedback(p tenant.Principal, id string) feedback.Feedback {
	now := logevent.MillisOf(h.now())
	f := feedback.Feedback{ID: id, OrganisationID: p.OrganisationID, WorkspaceID: p.WorkspaceID,
		RetentionDays: uint16(min(p.RetentionDays, 65535)), UpdatedAt: now, CreatedAt: now}
	if f.ID == "" {
		f.ID = logevent.NewID()
	}
	// A feedback id made by ingest carries its creation time, so every
	// version of it lands in the same partition and expires with the first.
	if t, ok := logevent.IDTime(f.ID); ok {
		f.CreatedAt = t
	}
	return f
}

func (h *Handler) postFeedback(c *gin.Context) {
	p := tenant.From(c)
	raw, ok := h.readFeedback(c)
	if !ok {
		return
	}
	items, isArray, err := splitJSON(raw, h.o.MaxBatchEvents)
	if err != nil {
		apierr.Abort(c, http.StatusBadRequest, apierr.CodeInvalid, err.Error())
		return
	}
	if !isArray {
		if listed, ok := indexedObject(items[0], h.o.MaxBatchEvents); ok {
			items, isArray = listed, true
		}
	}
	trace := c.GetHeader(HeaderTraceID)
	var fields []logevent.FieldError
	var records []feedback.Feedback
	for i, it := range items {
		f := h.newFeedback(p, "")
		errs := decodeFeedback(it, &f, trace == "", "")
		if f.TraceID == "" {
			f.TraceID = trace
		}
		for _, fe := range errs {
			if isArray {
				fe.Field = itemPath(i, fe.Field)
			}
			fields = append(fields, fe)
		}
		records = append(records, f)
	}
	if fields != nil {
		abortFields(c, http.StatusBadRequest, apierr.CodeInvalid, "invalid feedback; none was accepted", fields)
		return
	}
	h.publishFeedback(c, records, "Feedback successfully saved")
}

func (h *Handler) putFeedback(c *gin.Context) {
	p := tenant.From(c)
	id := c.Param("id")
	if !logevent.IDPattern.MatchString(id) {
		apierr.AbortParam(c, "id", "feedback id must be 1-64 characters of letters, digits, '_', '.', ':' or '-'")
		return
	}
	raw, ok := h.readFeedback(c)
	if !ok {
		return
	}
	f := h.newFeedback(p, id)
	if errs := decodeFeedback(raw, &f, false, id); errs != nil {
		abortFields(c, http.StatusBadRequest, apierr.CodeInvalid, "invalid feedback; it was not accepted", errs)
		return
	}
	if h.fbIndex != nil {
		ctx, cancel := contextWithTimeout(c, h.o.ProduceTimeout)
		found, err := h.fbIndex.Exists(ctx, p.Scope(), id)
		cancel()
		if err != nil {
			h.log.Warn("feedback lookup failed; answering 503", "err", err)
			h.unavailable(c, apierr.CodeUnavailable, "cannot tell whether the feedback exists; retry")
			return
		}
		if !found {
			apierr.Abort(c, http.StatusNotFound, apierr.CodeNotFound, "no such feedback: "+id)
			return
		}
	}
	h.publishFeedback(c, []feedback.Feedback{f}, "Feedback successfully updated")
}

func (h *Handler) publishFeedback(c *gin.Context, records []feedback.Feedback, msg string) {
	msgs := make([]kafka.Message, len(records))
	ids := make([]string, len(records))
	for i := range records {
		b, err := feedback.Encode(&records[i])
		if err != nil {
			apierr.Abort(c, http.StatusBadRequest, apierr.CodeInvalid, err.Error())
			return
		}
		msgs[i] = kafka.Message{Key: []byte(records[i].ID), Value: b}
		ids[i] = records[i].ID
	}
	ctx, cancel := contextWithTimeout(c, h.o.ProduceTimeout)
	defer cancel()
	if err := h.feedback.Produce(ctx, msgs...); err != nil {
		h.log.Warn("kafka unavailable; answering 503", "err", err, "feedback", len(msgs))
		h.unavailable(c, apierr.CodeUnavailable, "Kafka did not acknowledge the feedback; retry")
		return
	}
	h.m.feedback.Add(float64(len(msgs)))
	if h.fbIndex != nil {
		h.fbIndex.Remember(tenant.From(c).Scope(), ids)
	}
	if len(ids) == 1 {
		msg += " (" + strconv.Quote(ids[0]) + ")"
	}
	c.JSON(http.StatusOK, feedbackResponse{Status: "success", Message: msg, FeedbackIDs: ids})
}
