// Package tenant is the key registry: API keys (stored hashed) belong to one
// workspace of one organisation and carry a role; organisations carry a plan.
// The registry is a JSON file (a Kubernetes Secret in production, a file under
// the local stack directory with `make key`), reloaded when it changes.
package tenant

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// Role is what a key may do.
type Role string

// Roles.
const (
	RoleMember Role = "member"
	RoleAdmin  Role = "admin"
)

// Plan is an organisation's plan.
type Plan string

// Plans.
const (
	PlanDeveloper  Plan = "developer"
	PlanProduction Plan = "production"
	PlanEnterprise Plan = "enterprise"
)

// Limits are what a plan allows.
type Limits struct {
	// MonthlyLogs is the included logs per calendar month (0: unlimited).
	MonthlyLogs int64
	// HardLimit refuses logs beyond MonthlyLogs (developer); otherwise they
	// are accepted and counted as overage.
	HardLimit bool
	// OverageBlock is the size of a billable overage block, in logs.
	OverageBlock int64
	// RetentionDays is how long logs are kept and returned.
	RetentionDays int
	// ExportDays is how far back an export may reach: 0 no export, -1 any range.
	ExportDays int
}

// DefaultEnterpriseRetentionDays is the enterprise retention when the
// organisation does not configure one.
const DefaultEnterpriseRetentionDays = 365

// Limits returns the plan's limits.
func (p Plan) Limits() Limits {
	switch p {
	case PlanDeveloper:
		return Limits{MonthlyLogs: 10_000, HardLimit: true, RetentionDays: 3}
	case PlanProduction:
		return Limits{MonthlyLogs: 100_000, OverageBlock: 100_000, RetentionDays: 30, ExportDays: 30}
	default:
		return Limits{RetentionDays: DefaultEnterpriseRetentionDays, ExportDays: -1}
	}
}

// Valid reports whether p is a known plan.
func (p Plan) Valid() bool {
	return slices.Contains([]Plan{PlanDeveloper, PlanProduction, PlanEnterprise}, p)
}

// Principal is who a request acts as, resolved from its API key.
type Principal struct {
	KeyID          string
	OrganisationID string
	WorkspaceID    string
	Role           Role
	Plan           Plan
	// RetentionDays is the organisation's retention tier.
	RetentionDays int
}

// File is the registry file's format.
type File struct {
	Organisations []Organisation `json:"organisations"`
	Keys          []Key          `json:"keys"`
	VirtualKeys   []VirtualKey   `json:"virtual_keys"`
}

// Organisation is a tenant with a plan.
type Organisation struct {
	ID   string `json:"id"`
	Plan Plan   `json:"plan"`
	// RetentionDays overrides the enterprise retention (ignored on other plans).
	RetentionDays int `json:"retention_days,omitempty"`
}

// Key is a stored API key: only its SHA-256 is kept.
type Key struct {
	ID             string `json:"id"`
	SHA256         string `json:"sha256"`
	OrganisationID string `json:"organisation_id"`
	WorkspaceID    string `json:"workspace_id"`
	Role           Role   `json:"role"`
}

// VirtualKey is a provider virtual key of a workspace; archived ones cannot be replayed.
type VirtualKey struct {
	OrganisationID string `json:"organisation_id"`
	WorkspaceID    string `json:"workspace_id"`
	Slug           string `json:"slug"`
	Archived       bool   `json:"archived"`
}

// Hash returns the stored form of a plaintext API key.
func Hash(apiKey string) string {
	sum := sha256.Sum256([]byte(apiKey))
	return hex.EncodeToString(sum[:])
}

type snapshot struct {
	byHash   map[string]Principal
	archived map[[3]string]bool
}

// Registry resolves API keys. It is safe for concurrent use.
type Registry struct {
	path  string
	mu    sync.RWMutex
	snap  snapshot
	mtime time.Time
}

// Open loads the registry file at path.
func Open(path string) (*Registry, error) {
	r := &Registry{path: path}
	if err := r.reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// NewStatic returns a registry over f held in memory (for tests and tools).
func NewStatic(f File) (*Registry, error) {
	s, err := build(f)
	if err != nil {
		return nil, err
	}
	return &Registry{snap: s}, nil
}

func build(f File) (snapshot, error) {
	orgs := map[string]Organisation{}
	for _, o := range f.Organisations {
		if !o.Plan.Valid() {
			return snapshot{}, fmt.Errorf("organisation %q: unknown plan %q", o.ID, o.Plan)
		}
		orgs[o.ID] = o
	}
	s := snapshot{byHash: map[string]Principal{}, archived: map[[3]string]bool{}}
	for _, k := range f.Keys {
		o, ok := orgs[k.OrganisationID]
		if !ok {
			return snapshot{}, fmt.Errorf("key %q: unknown organisation %q", k.ID, k.OrganisationID)
		}
		if k.Role != RoleAdmin && k.Role != RoleMember {
			return snapshot{}, fmt.Errorf("key %q: unknown role %q", k.ID, k.Role)
		}
		if k.WorkspaceID == "" || len(k.SHA256) != 64 {
			return snapshot{}, fmt.Errorf("key %q: workspace_id and a 64-hex sha256 are required", k.ID)
		}
		ret := o.Plan.Limits().RetentionDays
		if o.Plan == PlanEnterprise && o.RetentionDays > 0 {
			ret = o.RetentionDays
		}
		s.byHash[k.SHA256] = Principal{KeyID: k.ID, OrganisationID: o.ID, WorkspaceID: k.WorkspaceID,
			Role: k.Role, Plan: o.Plan, RetentionDays: ret}
	}
	for _, v := range f.VirtualKeys {
		if v.OrganisationID == "" || v.WorkspaceID == "" || v.Slug == "" {
			return snapshot{}, fmt.Errorf("virtual key %q: organisation_id, workspace_id and slug are required", v.Slug)
		}
		if v.Archived {
			s.archived[[3]string{v.OrganisationID, v.WorkspaceID, v.Slug}] = true
		}
	}
	return s, nil
}

func (r *Registry) reload() error {
	st, err := os.Stat(r.path)
	if err != nil {
		return fmt.Errorf("read key registry: %w", err)
	}
	f, err := ReadFile(r.path)
	if err != nil {
		return err
	}
	s, err := build(f)
	if err != nil {
		return fmt.Errorf("key registry %s: %w", r.path, err)
	}
	r.mu.Lock()
	r.snap, r.mtime = s, st.ModTime()
	r.mu.Unlock()
	return nil
}

// Watch reloads the file whenever its modification time changes, every
// interval, until ctx ends. A broken file keeps the last good registry.
func (r *Registry) Watch(ctx context.Context, interval time.Duration, log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := os.Stat(r.path)
		r.mu.RLock()
		same := err == nil && st.ModTime().Equal(r.mtime)
		r.mu.RUnlock()
		if same {
			continue
		}
		if err := r.reload(); err != nil {
			log.Error("key registry reload failed; keeping the last good one", "err", err)
		}
	}
}

// Lookup resolves a plaintext API key.
func (r *Registry) Lookup(apiKey string) (Principal, bool) {
	if apiKey == "" {
		return Principal{}, false
	}
	h := Hash(apiKey)
	r.mu.RLock()
	p, ok := r.snap.byHash[h]
	r.mu.RUnlock()
	return p, ok
}

// VirtualKeyArchived reports whether the virtual key slug of organisation's
// workspace is archived.
func (r *Registry) VirtualKeyArchived(organisation, workspace, slug string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.snap.archived[[3]string{organisation, workspace, slug}]
}

// ReadFile parses a registry file; a missing file is an empty registry.
func ReadFile(path string) (File, error) {
	var f File
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return f, fmt.Errorf("read key registry: %w", err)
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("parse key registry %s: %w", path, err)
	}
	return f, nil
}

// NewKey creates a key for workspace of organisation with role and returns the
// plaintext (shown once) and its stored form.
func NewKey(organisation, workspace string, role Role) (string, Key) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	plain := "lp_" + hex.EncodeToString(b[:])
	h := Hash(plain)
	return plain, Key{ID: "key_" + h[:12], SHA256: h, OrganisationID: organisation, WorkspaceID: workspace, Role: role}
}

// AddKey adds a new key to the registry file at path (creating it), setting the
// organisation's plan, and returns the plaintext key. The file is replaced
// atomically so running services never read half of it.
func AddKey(path, organisation, workspace string, role Role, plan Plan) (string, Key, error) {
	if !plan.Valid() {
		return "", Key{}, fmt.Errorf("unknown plan %q: want developer, production or enterprise", plan)
	}
	if role != RoleAdmin && role != RoleMember {
		return "", Key{}, fmt.Errorf("unknown role %q: want admin or member", role)
	}
	f, err := ReadFile(path)
	if err != nil {
		return "", Key{}, err
	}
	found := false
	for i := range f.Organisations {
		if f.Organisations[i].ID == organisation {
			f.Organisations[i].Plan, found = plan, true
		}
	}
	if !found {
		f.Organisations = append(f.Organisations, Organisation{ID: organisation, Plan: plan})
	}
	plain, k := NewKey(organisation, workspace, role)
	f.Keys = append(f.Keys, k)
	if err := WriteFile(path, f); err != nil {
		return "", Key{}, err
	}
	return plain, k, nil
}

// WriteFile writes f to path atomically (temp file + rename), mode 0600.
func WriteFile(path string, f File) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write key registry: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write key registry: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write key registry: %w", err)
	}
	return nil
}
