// Package signing makes and checks the HMAC-SHA256 signatures of the links
// the query service hands out (share links to a log, download URLs of export
// files). Every signature names the id of the key that made it, and a
// Keyring holds the current key plus any number of previous ones, so the
// signing key can be rotated without breaking links minted before: add the
// new key in front, keep the old one behind it until its links have expired,
// then remove it.
package signing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// MinSecretBytes is the shortest secret a key may have.
const MinSecretBytes = 16

// DevKeyID is the id of the insecure development key (DevKeyring).
const DevKeyID = "dev"

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// Keyring signs with its current key and verifies with any of its keys.
type Keyring struct {
	current string
	keys    map[string][]byte
}

// Parse reads a keyring from its configuration form: comma-separated
// "id:secret" pairs, the current (signing) key first, e.g.
// "2026-11:9c1f…,2026-10:77ab…". Ids are 1-32 of [A-Za-z0-9_-]; secrets are
// at least MinSecretBytes bytes; ids must be unique.
func Parse(spec string) (*Keyring, error) {
	k := &Keyring{keys: map[string][]byte{}}
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		id, secret, ok := strings.Cut(item, ":")
		if !ok {
			return nil, fmt.Errorf("signing key %q: want id:secret", redact(item))
		}
		if !keyIDPattern.MatchString(id) {
			return nil, fmt.Errorf("signing key id %q: want 1-32 letters, digits, _ or -", id)
		}
		if len(secret) < MinSecretBytes {
			return nil, fmt.Errorf("signing key %q: secret has %d bytes, want at least %d", id, len(secret), MinSecretBytes)
		}
		if _, dup := k.keys[id]; dup {
			return nil, fmt.Errorf("signing key id %q appears twice", id)
		}
		k.keys[id] = []byte(secret)
		if k.current == "" {
			k.current = id
		}
	}
	if k.current == "" {
		return nil, errors.New("no signing key: want id:secret[,id:secret...] with the current key first")
	}
	return k, nil
}

func redact(item string) string {
	if id, _, ok := strings.Cut(item, ":"); ok {
		return id + ":…"
	}
	return "…"
}

// DevKeyring returns a keyring over a fixed, public development key. Links
// it signs can be forged by anyone; the query service uses it only when
// started in development mode without keys.
func DevKeyring() *Keyring {
	k, err := Parse(DevKeyID + ":logpipe-insecure-development-signing-key")
	if err != nil {
		panic(err)
	}
	return k
}

// Sign returns the current key's id and its MAC of purpose and fields.
func (k *Keyring) Sign(purpose string, fields ...string) (keyID string, mac []byte) {
	return k.current, compute(k.keys[k.current], purpose, fields)
}

// Verify reports whether mac is keyID's MAC of purpose and fields; an
// unknown key id (a removed key, or a forged id) never verifies.
func (k *Keyring) Verify(keyID string, mac []byte, purpose string, fields ...string) bool {
	secret, ok := k.keys[keyID]
	if !ok {
		return false
	}
	return hmac.Equal(mac, compute(secret, purpose, fields))
}

// compute is HMAC-SHA256 over purpose and fields, each length-prefixed, so
// no two different field lists share a message.
func compute(secret []byte, purpose string, fields []string) []byte {
	m := hmac.New(sha256.New, secret)
	var n [binary.MaxVarintLen64]byte
	for _, s := range append([]string{purpose}, fields...) {
		m.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
		m.Write([]byte(s))
	}
	return m.Sum(nil)
}
