package api

import (
	"encoding/json"
	"strconv"
	"strings"

	"logpipe/lib/logevent"
)

// productLogFields adds the product's log object to m (a log's detail):
// _id, request {url, method, headers, body, portkeyHeaders}, response
// {status, headers, body, responseTime, lastUsedOptionJsonPath} and metrics
// (the analytics columns, is_success as a boolean). Headers and bodies are
// present only for tracked logs, as the product leaves them out when debug
// logging is off. The flat fields of m stay beside them.
func productLogFields(m map[string]any, e *logevent.Event) {
	tracked := e.IsTracked == 1
	req := map[string]any{
		"url":            e.RequestURL,
		"method":         strings.ToUpper(e.RequestMethod),
		"portkeyHeaders": portkeyHeaders(e),
	}
	resp := map[string]any{
		"status":                 e.ResponseStatusCode,
		"responseTime":           e.ResponseTime,
		"lastUsedOptionJsonPath": lastUsedOption(e),
	}
	if tracked {
		req["headers"], req["body"] = e.RequestHeaders, e.RequestBody
		resp["headers"], resp["body"] = e.ResponseHeaders, e.ResponseBody
	}
	metrics := listItem(e)
	delete(metrics, "status")
	delete(metrics, "object")
	delete(metrics, "metadata")
	metrics["is_success"] = e.IsSuccess == 1
	m["_id"] = e.ID
	m["request"] = req
	m["response"] = resp
	m["metrics"] = metrics
}

// portkeyHeaders are the gateway headers the log was sent with, as far as
// they are kept: trace, span and metadata.
func portkeyHeaders(e *logevent.Event) map[string]string {
	h := map[string]string{}
	for name, v := range map[string]string{"x-portkey-trace-id": e.TraceID, "x-portkey-span-id": e.SpanID,
		"x-portkey-span-name": e.SpanName, "x-portkey-parent-span-id": e.ParentSpanID} {
		if v != "" {
			h[name] = v
		}
	}
	if len(e.MetadataKey) > 0 {
		md := make(map[string]string, len(e.MetadataKey))
		for i, k := range e.MetadataKey {
			if i < len(e.MetadataValue) {
				md[k] = e.MetadataValue[i]
			}
		}
		b, _ := json.Marshal(md)
		h["x-portkey-metadata"] = string(b)
	}
	return h
}

// lastUsedOption is the JSON path of the config target that answered
// ("" when the log did not go through a config's targets).
func lastUsedOption(e *logevent.Event) string {
	if e.FallbackOption == 0 {
		return ""
	}
	return "$.targets[" + strconv.Itoa(int(e.FallbackOption)-1) + "]"
}
