package api

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"logpipe/lib/apierr"
	"logpipe/lib/logevent"
	"logpipe/lib/tenant"
	"logpipe/query/filter"
	"logpipe/query/store"
)

// Page sizes of GET /v1/logs.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// listResponse is the product's list shape.
type listResponse struct {
	Object     string           `json:"object"`
	Total      uint64           `json:"total"`
	Data       []map[string]any `json:"data"`
	NextCursor *string          `json:"next_cursor"`
}

func (h *Handlers) list(c *gin.Context) {
	if foreignWorkspace(c) {
		return
	}
	f, err := filter.FromQuery(c.Request.URL.Query(), "page_size", "cursor")
	if err != nil {
		h.fail(c, err)
		return
	}
	size, err := intParam(c, "page_size", DefaultPageSize, 1, MaxPageSize)
	if err != nil {
		h.fail(c, err)
		return
	}
	var after *store.Cursor
	if s := c.Query("cursor"); s != "" {
		if after, err = decodeCursor(s); err != nil {
			h.fail(c, err)
			return
		}
	}
	sc := h.scope(c)
	ctx, cancel := h.ctx(c)
	defer cancel()
	// The exact total and the page are independent reads: run them side by side.
	type counted struct {
		n   uint64
		err error
	}
	totalc := make(chan counted, 1)
	go func() {
		n, err := h.store.Count(ctx, sc, f)
		totalc <- counted{n, err}
	}()
	logs, next, err := h.store.List(ctx, sc, f, after, size)
	total := <-totalc
	if err == nil {
		err = total.err
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	resp := listResponse{Object: "list", Total: total.n, Data: make([]map[string]any, len(logs))}
	for i := range logs {
		resp.Data[i] = listItem(&logs[i])
	}
	if next != nil {
		s := encodeCursor(*next)
		resp.NextCursor = &s
	}
	c.JSON(http.StatusOK, resp)
}

// listItem is one row of a logs table: every listing column under its
// documented name, metadata as an object and the four status strings.
func listItem(e *logevent.Event) map[string]any {
	m := make(map[string]any, len(logevent.Columns)+4)
	for _, col := range logevent.ListingColumns() {
		if col.Kind == logevent.KindTime {
			m[col.Name] = col.Dest(e)
			continue
		}
		m[col.Name] = col.Value(e)
	}
	md := make(map[string]string, len(e.MetadataKey))
	for i, k := range e.MetadataKey {
		if i < len(e.MetadataValue) {
			md[k] = e.MetadataValue[i]
		}
	}
	m["metadata"] = md
	m["status"] = e.Status()
	m["object"] = "log"
	return m
}

type cursorJSON struct {
	T int64  `json:"t"`
	I string `json:"i"`
}

func encodeCursor(c store.Cursor) string {
	b, _ := json.Marshal(cursorJSON{T: int64(c.CreatedAt), I: c.ID})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (*store.Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	var cj cursorJSON
	if err != nil || json.Unmarshal(b, &cj) != nil || cj.T <= 0 || !logevent.IDPattern.MatchString(cj.I) {
		return nil, badParam("cursor", "is not a cursor returned by this API (use next_cursor as given)")
	}
	return &store.Cursor{CreatedAt: logevent.Millis(cj.T), ID: cj.I}, nil
}

// Replay says whether a log can be replayed, and why not.
type Replay struct {
	Eligible bool   `json:"eligible"`
	Reason   string `json:"reason,omitempty"`
}

// replay applies the product's three rules: only chat/completions,
// completions and embeddings can be replayed, not with an archived virtual
// key, and not a log of a prompt template called inside a config target.
func (h *Handlers) replay(e *logevent.Event) Replay {
	switch {
	case !slices.Contains(logevent.ReplayableEndpoints, e.EndpointType):
		return Replay{Reason: "endpoint " + quote(e.EndpointType) + " cannot be replayed; only " + strings.Join(logevent.ReplayableEndpoints, ", ") + " can"}
	case e.VirtualKey != "" && h.keys.VirtualKeyArchived(e.OrganisationID, e.WorkspaceID, e.VirtualKey):
		return Replay{Reason: "virtual key " + quote(e.VirtualKey) + " is archived"}
	case e.PromptInConfig == 1:
		return Replay{Reason: "the log came from a prompt template called inside a config target"}
	}
	return Replay{Eligible: true}
}

func quote(s string) string { return "\"" + s + "\"" }

func (h *Handlers) detail(c *gin.Context) {
	id := c.Param("id")
	if !logevent.IDPattern.MatchString(id) {
		apierr.Abort(c, http.StatusNotFound, apierr.CodeNotFound, "no such log")
		return
	}
	h.answerLog(c, h.scope(c), id)
}

func (h *Handlers) shared(c *gin.Context) {
	org, ws, id, ok := h.verifyShare(c.Param("token"))
	var sc store.Scope
	if ok {
		sc, ok = store.SharedScope(tenant.From(c), org, ws, h.now())
	}
	if !ok {
		apierr.Abort(c, http.StatusNotFound, apierr.CodeNotFound, "no such log")
		return
	}
	h.answerLog(c, sc, id)
}

func (h *Handlers) answerLog(c *gin.Context, sc store.Scope, id string) {
	ctx, cancel := h.ctx(c)
	defer cancel()
	e, ok, err := h.store.Get(ctx, sc, id)
	if err != nil {
		h.fail(c, err)
		return
	}
	if !ok {
		apierr.Abort(c, http.StatusNotFound, apierr.CodeNotFound, "no such log")
		return
	}
	fb, err := h.store.TraceFeedback(ctx, sc, e.TraceID)
	if err != nil {
		h.fail(c, err)
		return
	}
	if fb == nil {
		fb = []store.Feedback{}
	}
	m := listItem(&e)
	tracked := e.IsTracked == 1
	if tracked {
		m["request.body"], m["response.body"] = e.RequestBody, e.ResponseBody
		m["request.headers"], m["response.headers"] = e.RequestHeaders, e.ResponseHeaders
	} else {
		m["do_not_track"] = true
		m["bodies_absent_reason"] = "DO NOT TRACK: the request was sent with x-portkey-debug: false; only statistics were kept"
	}
	productLogFields(m, &e)
	m["feedback"] = fb
	m["replay"] = h.replay(&e)
	m["share_url"] = h.shareURL(&e)
	c.JSON(http.StatusOK, m)
}

// Share URLs: {PublicURL}/v1/logs/shared/{token}. The token carries the
// log's organisation, workspace and id, an expiry (Config.ShareTTL after it
// was minted) and the id of the signing key, and ends with an HMAC-SHA256 of
// all of them (package signing). It opens the log for any key of the same
// organisation (SharedScope) until it expires, and is a 404 for everyone
// else. Rotating the signing key keeps tokens minted before valid as long as
// the previous key stays in the keyring.
const sharePurpose = "logpipe share v2"

func (h *Handlers) shareURL(e *logevent.Event) string {
	exp := strconv.FormatInt(h.now().Add(h.cfg.ShareTTL).Unix(), 10)
	kid, mac := h.cfg.Keys.Sign(sharePurpose, e.OrganisationID, e.WorkspaceID, e.ID, exp)
	payload := strings.Join([]string{kid, e.OrganisationID, e.WorkspaceID, e.ID, exp}, "\x00")
	return strings.TrimRight(h.cfg.PublicURL, "/") + "/v1/logs/shared/" +
		base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + base64.RawURLEncoding.EncodeToString(mac)
}

// verifyShare returns what a share token grants, if its signature verifies
// under a key of the keyring and it has not expired.
func (h *Handlers) verifyShare(token string) (org, ws, id string, ok bool) {
	p64, s64, found := strings.Cut(token, ".")
	if !found {
		return "", "", "", false
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p64)
	mac, err2 := base64.RawURLEncoding.DecodeString(s64)
	if err1 != nil || err2 != nil {
		return "", "", "", false
	}
	parts := strings.Split(string(payload), "\x00")
	if len(parts) != 5 || !logevent.IDPattern.MatchString(parts[3]) {
		return "", "", "", false
	}
	kid, org, ws, id, exp := parts[0], parts[1], parts[2], parts[3], parts[4]
	if !h.cfg.Keys.Verify(kid, mac, sharePurpose, org, ws, id, exp) {
		return "", "", "", false
	}
	expires, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || h.now().Unix() >= expires {
		return "", "", "", false
	}
	return org, ws, id, true
}
