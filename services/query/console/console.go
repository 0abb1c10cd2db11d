// Package console serves the web console: one HTML page at the base URL's
// root and its static ES modules and CSS under /ui/, all embedded in the
// binary (no CDN, no front-end build step). The page signs in with an API key
// kept in the browser's sessionStorage and uses the public HTTP API.
//
// Every response carries a strict Content-Security-Policy — scripts, styles
// and connections from this origin only, no inline script or style, no eval,
// images also from data: and https: (images of multimodal bodies), never
// framed — and X-Content-Type-Options: nosniff. The page renders every value
// from the API as text (textContent), never as HTML.
package console

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/gin-gonic/gin"
)

//go:embed static
var files embed.FS

// CSP is the Content-Security-Policy of every console response.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data: https:; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// AssetPrefix is the URL path of the static files.
const AssetPrefix = "/ui/"

// asset is one embedded file with its content type and ETag.
type asset struct {
	body  []byte
	ctype string
	etag  string
}

// Handler serves the console.
type Handler struct {
	assets map[string]asset // by name under static/
}

// New loads the embedded files.
func New() (*Handler, error) {
	h := &Handler{assets: map[string]asset{}}
	err := fs.WalkDir(files, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		ct := mime.TypeByExtension(path.Ext(p))
		switch path.Ext(p) {
		case ".js":
			ct = "text/javascript; charset=utf-8"
		case ".css":
			ct = "text/css; charset=utf-8"
		case ".html":
			ct = "text/html; charset=utf-8"
		case ".svg":
			ct = "image/svg+xml"
		}
		sum := sha256.Sum256(b)
		h.assets[strings.TrimPrefix(p, "static/")] = asset{body: b, ctype: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if _, ok := h.assets["index.html"]; !ok {
		return nil, fs.ErrNotExist
	}
	return h, nil
}

// Register adds GET / (the page) and GET /ui/*file (its files) to r,
// which must not require an API key: the page asks for one.
func (h *Handler) Register(r gin.IRoutes) {
	r.GET("/", func(c *gin.Context) { h.serve(c, "index.html") })
	r.GET(AssetPrefix+"*file", func(c *gin.Context) {
		name := strings.TrimPrefix(c.Param("file"), "/")
		if name == "index.html" || strings.Contains(name, "..") {
			name = ""
		}
		h.serve(c, name)
	})
}

// SecurityHeaders sets the console's response headers on c.
func SecurityHeaders(c *gin.Context) {
	hd := c.Writer.Header()
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
}

func (h *Handler) serve(c *gin.Context, name string) {
	SecurityHeaders(c)
	a, ok := h.assets[name]
	if !ok {
		c.Header("Content-Type", "text/plain; charset=utf-8")
		c.String(http.StatusNotFound, "no such console file\n")
		return
	}
	c.Header("ETag", a.etag)
	// The page and its modules are revalidated on every load (cheap: ETag),
	// so a new binary's console is picked up at once.
	c.Header("Cache-Control", "no-cache")
	if c.GetHeader("If-None-Match") == a.etag {
		c.Status(http.StatusNotModified)
		return
	}
	c.Data(http.StatusOK, a.ctype, a.body)
}

// Size returns the total bytes of the embedded JavaScript and CSS.
func (h *Handler) Size() int {
	n := 0
	for name, a := range h.assets {
		if strings.HasSuffix(name, ".js") || strings.HasSuffix(name, ".css") {
			n += len(a.body)
		}
	}
	return n
}
