package api

import (
	"slices"
	"testing"

	"github.com/gin-gonic/gin"

	"logpipe/lib/openapicheck"
)

// TestOpenAPI compares the routes with the ingest operations of
// schemas/openapi/openapi.yaml. The forwarding routes on /v1/logs are left
// out: the document lists them under the query service that answers them.
func TestOpenAPI(t *testing.T) {
	hs := newHarness(t, Options{}, nil)
	var routes gin.RoutesInfo
	for _, r := range hs.engine.Routes() {
		if r.Path == "/v1/logs" && slices.Contains(Forwarded, r.Method) {
			continue
		}
		routes = append(routes, r)
	}
	openapicheck.Check(t, "ingest", routes)
}
