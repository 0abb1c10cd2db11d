package export

import (
	"encoding/hex"
	"errors"
	"net/url"
	"strconv"
	"time"

	"logpipe/lib/signing"
	"logpipe/lib/tenant"
)

// Signer makes and checks the short-lived download URLs of export files: an
// HMAC-SHA256 (package signing) over the tenant (organisation and
// workspace), the job id and the expiry, so the URL needs no API key and
// cannot be pointed at another tenant's or another file, or extended. The
// URL names the signing key's id, so rotating the key keeps URLs minted
// before valid for as long as the previous key stays in the keyring.
type Signer struct {
	keys *signing.Keyring
}

// NewSigner returns a signer over keys.
func NewSigner(keys *signing.Keyring) *Signer { return &Signer{keys: keys} }

// Query parameters of a signed download URL.
const (
	paramOrganisation = "organisation_id"
	paramWorkspace    = "workspace_id"
	paramKeyID        = "key_id"
	paramExpires      = "expires"
	paramSignature    = "signature"
)

const signPurpose = "logpipe export download v2"

// Errors of Verify.
var (
	ErrBadSignature = errors.New("the download link is not valid: its signature does not match")
	ErrExpired      = errors.New("the download link has expired: ask GET /v1/logs/exports/{id}/download for a new one")
)

// Sign returns the query string granting tenant t's job id until expires.
func (s *Signer) Sign(t tenant.Scope, id string, expires time.Time) url.Values {
	exp := strconv.FormatInt(expires.Unix(), 10)
	kid, mac := s.keys.Sign(signPurpose, t.OrganisationID(), t.WorkspaceID(), id, exp)
	return url.Values{
		paramOrganisation: {t.OrganisationID()},
		paramWorkspace:    {t.WorkspaceID()},
		paramKeyID:        {kid},
		paramExpires:      {exp},
		paramSignature:    {hex.EncodeToString(mac)},
	}
}

// Verify checks q for job id at now and returns the tenant it grants.
func (s *Signer) Verify(id string, q url.Values, now time.Time) (tenant.Scope, error) {
	org, ws, exp := q.Get(paramOrganisation), q.Get(paramWorkspace), q.Get(paramExpires)
	t, err := tenant.ScopeOf(org, ws)
	if err != nil {
		return tenant.Scope{}, ErrBadSignature
	}
	expires, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return tenant.Scope{}, ErrBadSignature
	}
	mac, err := hex.DecodeString(q.Get(paramSignature))
	if err != nil || !s.keys.Verify(q.Get(paramKeyID), mac, signPurpose, org, ws, id, exp) {
		return tenant.Scope{}, ErrBadSignature
	}
	if now.Unix() >= expires {
		return tenant.Scope{}, ErrExpired
	}
	return t, nil
}
