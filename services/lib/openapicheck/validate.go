package openapicheck

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"logpipe/schemas"
)

// Validator checks HTTP responses against the OpenAPI document with
// kin-openapi's openapi3filter: the operation is found by method and path,
// and the status, content type and body must be among those it documents.
type Validator struct {
	router routers.Router
}

var (
	loadOnce sync.Once
	loaded   *Validator
	loadErr  error
)

// Load parses schemas/openapi/openapi.yaml (with the event schema it refers
// to) once per process and returns its Validator.
func Load(t testing.TB) *Validator {
	t.Helper()
	loadOnce.Do(func() { loaded, loadErr = load() })
	if loadErr != nil {
		t.Fatalf("openapi.yaml: %v", loadErr)
	}
	return loaded
}

func load() (*Validator, error) {
	// export files: checked for their content type, not parsed
	openapi3filter.RegisterBodyDecoder("application/x-ndjson", openapi3filter.FileBodyDecoder)
	openapi3filter.RegisterBodyDecoder("application/gzip", openapi3filter.FileBodyDecoder)
	l := openapi3.NewLoader()
	l.IsExternalRefsAllowed = true
	l.ReadFromURIFunc = func(_ *openapi3.Loader, u *url.URL) ([]byte, error) {
		return fs.ReadFile(schemas.FS, path.Clean(u.Path))
	}
	raw, err := fs.ReadFile(schemas.FS, "openapi/openapi.yaml")
	if err != nil {
		return nil, err
	}
	doc, err := l.LoadFromDataWithPath(raw, &url.URL{Path: "openapi/openapi.yaml"})
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("validate the document: %w", err)
	}
	doc.Servers = nil // match requests to any host (test servers listen on random ports)
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	return &Validator{router: r}, nil
}

// Check returns why the response (status, header, body) to req does not
// conform to the document, or nil. The operational endpoints every service
// has (and the base URL hides) are outside the document and not checked.
func (v *Validator) Check(req *http.Request, status int, header http.Header, body []byte) error {
	if operational[req.URL.Path] {
		return nil
	}
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		return fmt.Errorf("%s %s: no documented operation: %w", req.Method, req.URL.Path, err)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}},
		Status:  status,
		Header:  header,
		Body:    io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(req.Context(), in); err != nil {
		return fmt.Errorf("%s %s answered %d, not as documented: %w\nbody: %.600s", req.Method, req.URL.RequestURI(), status, err, body)
	}
	return nil
}

// Transport wraps next (http.DefaultTransport when nil) so that every
// response is checked against the document; a violation fails t.
func (v *Validator) Transport(t testing.TB, next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return roundTripper{v: v, t: t, next: next}
}

// Client is an http.Client whose responses are checked against the document.
func (v *Validator) Client(t testing.TB) *http.Client {
	return &http.Client{Transport: v.Transport(t, nil)}
}

type roundTripper struct {
	v    *Validator
	t    testing.TB
	next http.RoundTripper
}

func (rt roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := rt.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read response body: %w", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err := rt.v.Check(req, resp.StatusCode, resp.Header, body); err != nil {
		rt.t.Errorf("OpenAPI: %v", err)
	}
	return resp, nil
}
