package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strings"

	"logpipe/lib/logevent"
)

// item is one decoded input event before the request's context is applied.
type item struct {
	ev logevent.Event
	// insert is true for the product's "Insert a Log" shape.
	insert bool
	// hasCreatedAt says whether the caller gave created_at.
	hasCreatedAt bool
	// checks is what decoding learnt of the event's raw payloads.
	checks logevent.RawChecks
}

// decodeItem decodes one JSON object into *it: the "Insert a Log" shape when
// it has a top-level "request" or "response" object, else the full gateway
// event. Unknown keys and wrong types are field errors. The item may point
// into raw: raw must not change while the item is in use (prepare copies the
// id it keeps).
func decodeItem(raw []byte, it *item) []logevent.FieldError {
	*it = item{}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return []logevent.FieldError{{Field: "", Reason: "must be a JSON object"}}
	}
	// Gateways post full events at volume: try that first.
	if err := logevent.DecodeStrictAliasing(raw, &it.ev, &it.checks); err != nil {
		if isInsertShape(raw) {
			var errs []logevent.FieldError
			*it, errs = decodeInsert(raw)
			return errs
		}
		return []logevent.FieldError{decodeError(err)}
	}
	it.hasCreatedAt = it.ev.CreatedAt != 0
	return nil
}

// isInsertShape reports whether the object has a top-level "request" or
// "response" key (the full event spells its keys "request.body", ...).
func isInsertShape(raw []byte) bool {
	if !bytes.Contains(raw, []byte(`"request"`)) && !bytes.Contains(raw, []byte(`"response"`)) {
		return false
	}
	var probe struct {
		Request  json.RawMessage `json:"request"`
		Response json.RawMessage `json:"response"`
	}
	if json.Unmarshal(raw, &probe) != nil {
		return false // the full-event decoder reports the syntax error
	}
	return probe.Request != nil || probe.Response != nil
}

// decodeError turns an encoding/json error into a field error.
func decodeError(err error) logevent.FieldError {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	msg := err.Error()
	switch {
	case errors.As(err, &te):
		field := te.Field
		if te.Struct != "" && field == "" {
			field = te.Struct
		}
		return logevent.FieldError{Field: field, Reason: fmt.Sprintf("must be a JSON value of Go type %s, got %s", jsonType(te.Type.String()), te.Value)}
	case errors.As(err, &se):
		return logevent.FieldError{Field: "", Reason: fmt.Sprintf("malformed JSON at byte %d: %s", se.Offset, se.Error())}
	case strings.Contains(msg, "unknown field "):
		name := msg[strings.Index(msg, "unknown field ")+len("unknown field "):]
		return logevent.FieldError{Field: strings.Trim(name, `"`), Reason: "is not a field of the log event"}
	case strings.Contains(msg, "ISO-8601") || strings.Contains(msg, "before 1970"):
		return logevent.FieldError{Field: "created_at", Reason: strings.TrimPrefix(msg, "decode event: ")}
	case strings.Contains(msg, "unexpected EOF") || strings.Contains(msg, "trailing data"):
		return logevent.FieldError{Field: "", Reason: "malformed JSON: " + strings.TrimPrefix(msg, "decode event: ")}
	}
	return logevent.FieldError{Field: "", Reason: strings.TrimPrefix(msg, "decode event: ")}
}

// jsonType names a Go type as a JSON type for error messages.
func jsonType(goType string) string {
	switch {
	case strings.HasPrefix(goType, "uint"):
		return "non-negative integer (" + goType + ")"
	case strings.HasPrefix(goType, "int"):
		return "integer (" + goType + ")"
	case strings.HasPrefix(goType, "float"):
		return "number"
	case goType == "string":
		return "string"
	case strings.HasPrefix(goType, "[]"):
		return "array"
	}
	return goType
}

// insertLog is the product's "Insert a Log" body. id and created_at are
// extensions so a retried insert keeps its id.
type insertLog struct {
	ID        string           `json:"id"`
	CreatedAt *logevent.Millis `json:"created_at"`
	Request   *struct {
		URL      string           `json:"url"`
		Method   string           `json:"method"`
		Headers  logevent.RawJSON `json:"headers"`
		Body     logevent.RawJSON `json:"body"`
		Provider string           `json:"provider"`
	} `json:"request"`
	Response *struct {
		Status        *int             `json:"status"`
		Headers       logevent.RawJSON `json:"headers"`
		Body          logevent.RawJSON `json:"body"`
		ResponseTime  *float64         `json:"response_time"`
		StreamingMode *bool            `json:"streamingMode"`
	} `json:"response"`
	Metadata map[string]json.RawMessage `json:"metadata"`
}

func decodeInsert(raw []byte) (item, []logevent.FieldError) {
	var in insertLog
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(&in); err != nil {
		fe := decodeError(err)
		if fe.Reason == "is not a field of the log event" {
			fe.Reason = "is not a field of the Insert a Log body (request, response, metadata)"
		}
		return item{}, []logevent.FieldError{fe}
	}
	if d.More() {
		return item{}, []logevent.FieldError{{Field: "", Reason: "malformed JSON: trailing data after the object"}}
	}
	var errs []logevent.FieldError
	if in.Request == nil {
		errs = append(errs, logevent.FieldError{Field: "request", Reason: "is required"})
	}
	if in.Response == nil {
		errs = append(errs, logevent.FieldError{Field: "response", Reason: "is required"})
	}
	if errs != nil {
		return item{}, errs
	}
	e := logevent.New()
	e.ID = in.ID
	it := item{insert: true}
	if in.CreatedAt != nil {
		e.CreatedAt, it.hasCreatedAt = *in.CreatedAt, true
	}
	rq, rs := in.Request, in.Response
	e.RequestURL = rq.URL
	if rq.Method != "" {
		e.RequestMethod = strings.ToUpper(rq.Method)
	}
	e.RequestHeaders, e.RequestBody = rq.Headers, rq.Body
	e.AIOrg = rq.Provider
	if e.AIOrg == "" {
		e.AIOrg = providerOf(rq.URL)
	}
	e.EndpointType = endpointOf(rq.URL)
	if rs.Status != nil {
		if *rs.Status < 100 || *rs.Status > 599 {
			errs = append(errs, logevent.FieldError{Field: "response.status", Reason: fmt.Sprintf("must be an HTTP status 100-599, got %d", *rs.Status)})
		} else {
			e.ResponseStatusCode = uint16(*rs.Status)
		}
	}
	if e.ResponseStatusCode >= 400 {
		e.IsSuccess = 0
	}
	e.ResponseHeaders, e.ResponseBody = rs.Headers, rs.Body
	if rs.ResponseTime != nil {
		if t := *rs.ResponseTime; t < 0 || t > math.MaxUint32 || math.IsNaN(t) {
			errs = append(errs, logevent.FieldError{Field: "response.response_time", Reason: "must be milliseconds ≥ 0"})
		} else {
			e.ResponseTime = uint32(math.Round(t))
		}
	}
	if rs.StreamingMode != nil && *rs.StreamingMode {
		e.StreamMode = logevent.StreamTrue
	}
	usageFromBodies(&e)
	keys := make([]string, 0, len(in.Metadata))
	for k := range in.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var v string
		if err := json.Unmarshal(in.Metadata[k], &v); err != nil {
			errs = append(errs, logevent.FieldError{Field: "metadata." + k, Reason: "must be a string"})
			continue
		}
		switch k {
		case "trace_id":
			e.TraceID = v
		case "span_id":
			e.SpanID = v
		case "span_name":
			e.SpanName = v
		case "parent_span_id":
			e.ParentSpanID = v
		default:
			if k == "_user" {
				e.User = v
			}
			e.MetadataKey = append(e.MetadataKey, k)
			e.MetadataValue = append(e.MetadataValue, v)
		}
	}
	if errs != nil {
		return item{}, errs
	}
	it.ev = e
	return it, nil
}

// usageFromBodies fills model and token counts from OpenAI- or
// Anthropic-style bodies where the caller did not give them.
func usageFromBodies(e *logevent.Event) {
	var resp struct {
		Model string `json:"model"`
		Usage *struct {
			PromptTokens            uint32 `json:"prompt_tokens"`
			CompletionTokens        uint32 `json:"completion_tokens"`
			TotalTokens             uint32 `json:"total_tokens"`
			InputTokens             uint32 `json:"input_tokens"`
			OutputTokens            uint32 `json:"output_tokens"`
			CompletionTokensDetails *struct {
				ReasoningTokens uint32 `json:"reasoning_tokens"`
			} `json:"completion_tokens_details"`
		} `json:"usage"`
	}
	if len(e.ResponseBody) > 0 && e.ResponseBody[0] == '{' {
		_ = json.Unmarshal(e.ResponseBody, &resp) // a body of another shape has no usage
	}
	if resp.Model == "" && len(e.RequestBody) > 0 && e.RequestBody[0] == '{' {
		var req struct {
			Model string `json:"model"`
		}
		_ = json.Unmarshal(e.RequestBody, &req)
		resp.Model = req.Model
	}
	if e.AIModel == "" {
		e.AIModel = resp.Model
	}
	if u := resp.Usage; u != nil {
		e.ReqUnits = max(u.PromptTokens, u.InputTokens)
		e.ResUnits = max(u.CompletionTokens, u.OutputTokens)
		e.TotalUnits = u.TotalTokens
		if e.TotalUnits == 0 {
			e.TotalUnits = e.ReqUnits + e.ResUnits
		}
		if u.CompletionTokensDetails != nil {
			e.ReasoningUnits = u.CompletionTokensDetails.ReasoningTokens
		}
	}
}

// knownProviders maps provider API hosts to provider names.
var knownProviders = map[string]string{
	"api.openai.com":                    "openai",
	"api.anthropic.com":                 "anthropic",
	"generativelanguage.googleapis.com": "google",
	"api.mistral.ai":                    "mistral-ai",
	"api.cohere.ai":                     "cohere",
	"api.cohere.com":                    "cohere",
	"api.groq.com":                      "groq",
	"api.together.xyz":                  "together-ai",
	"api.deepseek.com":                  "deepseek",
	"api.perplexity.ai":                 "perplexity-ai",
	"openrouter.ai":                     "openrouter",
	"api.fireworks.ai":                  "fireworks-ai",
}

// providerOf derives the provider name from a provider URL.
func providerOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return ""
	}
	host := strings.ToLower(u.Hostname())
	if p, ok := knownProviders[host]; ok {
		return p
	}
	switch {
	case strings.HasSuffix(host, ".openai.azure.com"):
		return "azure-openai"
	case strings.HasPrefix(host, "bedrock-runtime.") && strings.HasSuffix(host, ".amazonaws.com"):
		return "bedrock"
	case strings.HasSuffix(host, "-aiplatform.googleapis.com"):
		return "vertex-ai"
	}
	labels := strings.Split(host, ".")
	if len(labels) >= 2 {
		return labels[len(labels)-2]
	}
	return host
}

// endpointOf derives the endpoint type (chat/completions, embeddings, ...)
// from a provider URL: the path after its version segment.
func endpointOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	p := strings.Trim(u.Path, "/")
	for _, known := range []string{"chat/completions", "completions", "embeddings", "images/generations", "images/edits",
		"audio/speech", "audio/transcriptions", "audio/translations", "moderations", "messages", "responses"} {
		if p == known || strings.HasSuffix(p, "/"+known) {
			return known
		}
	}
	if i := strings.Index(p, "v1/"); i >= 0 {
		return p[i+3:]
	}
	return p
}
