package store

import (
	"time"

	"logpipe/lib/logevent"
	"logpipe/lib/tenant"
)

// Scope is the tenancy of every query: one tenant (organisation and
// workspace, see tenant.Scope) and the oldest created_at its plan's retention
// still shows. Every query function of this package requires one and adds
// its WHERE fragment itself, so no handler can forget it. The zero Scope
// matches nothing: queries refuse it.
type Scope struct {
	tenant tenant.Scope
	cutoff logevent.Millis
}

// NewScope returns the scope of p at now: p's tenant, and logs not older
// than p's retention (RetentionDays × 24 h before now).
func NewScope(p tenant.Principal, now time.Time) Scope {
	return Scope{tenant: p.Scope(), cutoff: cutoff(p.RetentionDays, now)}
}

// ScopeFor returns the scope of tenant t seen with retentionDays at now, for
// reads on behalf of a verified record (an export job, a share link).
func ScopeFor(t tenant.Scope, retentionDays int, now time.Time) Scope {
	return Scope{tenant: t, cutoff: cutoff(retentionDays, now)}
}

// SharedScope returns the scope through which p opens a log shared from
// workspaceID of organisationID (a verified share link): allowed only when p
// belongs to the same organisation; ok is false otherwise. Retention is p's,
// which is the organisation's.
func SharedScope(p tenant.Principal, organisationID, workspaceID string, now time.Time) (sc Scope, ok bool) {
	if p.OrganisationID == "" || p.OrganisationID != organisationID {
		return Scope{}, false
	}
	t, err := tenant.ScopeOf(organisationID, workspaceID)
	if err != nil {
		return Scope{}, false
	}
	return Scope{tenant: t, cutoff: cutoff(p.RetentionDays, now)}, true
}

func cutoff(days int, now time.Time) logevent.Millis {
	if days <= 0 {
		days = tenant.DefaultEnterpriseRetentionDays
	}
	return logevent.MillisOf(now.Add(-time.Duration(days) * 24 * time.Hour))
}

// Tenant is the scope's tenant.
func (s Scope) Tenant() tenant.Scope { return s.tenant }

// WorkspaceID is the scope's workspace.
func (s Scope) WorkspaceID() string { return s.tenant.WorkspaceID() }

// OrganisationID is the scope's organisation.
func (s Scope) OrganisationID() string { return s.tenant.OrganisationID() }

// RetentionCutoff is the oldest created_at the scope shows (inclusive).
func (s Scope) RetentionCutoff() logevent.Millis { return s.cutoff }

// Valid reports whether s was made from a principal (the zero Scope is not).
func (s Scope) Valid() bool { return s.tenant.Valid() }

// Where returns the scope's WHERE fragment over the logs table,
// "organisation_id = ? AND workspace_id = ? AND created_at >= ?", and its
// arguments.
func (s Scope) Where() (string, []any) {
	w, args := s.tenant.Where()
	return w + " AND " + colCreatedAt + " >= ?", append(args, uint64(s.cutoff))
}
