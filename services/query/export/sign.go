package export

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/url"
	"strconv"
	"time"
)

// Signer makes and checks the short-lived download URLs of export files: an
// HMAC-SHA256 over the workspace, the job id and the expiry, so the URL
// needs no API key and cannot be pointed at another file or extended.
type Signer struct {
	key []byte
}

// NewSigner returns a signer with key.
func NewSigner(key []byte) *Signer { return &Signer{key: key} }

// Query parameters of a signed download URL.
const (
	paramWorkspace = "workspace_id"
	paramExpires   = "expires"
	paramSignature = "signature"
)

// Errors of Verify.
var (
	ErrBadSignature = errors.New("the download link is not valid: its signature does not match")
	ErrExpired      = errors.New("the download link has expired: ask GET /v1/logs/exports/{id}/download for a new one")
)

func (s *Signer) mac(workspace, id string, expires int64) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("logpipe-export\x00" + workspace + "\x00" + id + "\x00" + strconv.FormatInt(expires, 10)))
	return hex.EncodeToString(m.Sum(nil))
}

// Sign returns the query string granting workspace's job id until expires.
func (s *Signer) Sign(workspace, id string, expires time.Time) url.Values {
	exp := expires.Unix()
	return url.Values{
		paramWorkspace: {workspace},
		paramExpires:   {strconv.FormatInt(exp, 10)},
		paramSignature: {s.mac(workspace, id, exp)},
	}
}

// Verify checks q for job id at now and returns the workspace it grants.
func (s *Signer) Verify(id string, q url.Values, now time.Time) (string, error) {
	ws := q.Get(paramWorkspace)
	exp, err := strconv.ParseInt(q.Get(paramExpires), 10, 64)
	if err != nil || ws == "" {
		return "", ErrBadSignature
	}
	got, err := hex.DecodeString(q.Get(paramSignature))
	if err != nil {
		return "", ErrBadSignature
	}
	want, _ := hex.DecodeString(s.mac(ws, id, exp))
	if !hmac.Equal(got, want) {
		return "", ErrBadSignature
	}
	if now.Unix() >= exp {
		return "", ErrExpired
	}
	return ws, nil
}
