package store

import (
	"time"

	"logpipe/lib/logevent"
	"logpipe/lib/tenant"
)

// Scope is the tenancy of every query: one workspace of one organisation and
// the oldest created_at its plan's retention still shows. A Scope can only be
// made from a tenant.Principal (NewScope, SharedScope); every query function
// of this package requires one and adds its WHERE fragment itself, so no
// handler can forget it. The zero Scope matches nothing: queries refuse it.
type Scope struct {
	workspaceID    string
	organisationID string
	cutoff         logevent.Millis
}

// NewScope returns the scope of p at now: p's workspace, and logs not older
// than p's retention (RetentionDays × 24 h before now).
func NewScope(p tenant.Principal, now time.Time) Scope {
	return Scope{workspaceID: p.WorkspaceID, organisationID: p.OrganisationID, cutoff: cutoff(p.RetentionDays, now)}
}

// SharedScope returns the scope through which p opens a log shared from
// workspaceID of organisationID (a share URL): allowed only when p belongs to
// the same organisation; ok is false otherwise. Retention is p's, which is
// the organisation's.
func SharedScope(p tenant.Principal, organisationID, workspaceID string, now time.Time) (sc Scope, ok bool) {
	if p.OrganisationID == "" || p.OrganisationID != organisationID || workspaceID == "" {
		return Scope{}, false
	}
	return Scope{workspaceID: workspaceID, organisationID: organisationID, cutoff: cutoff(p.RetentionDays, now)}, true
}

func cutoff(days int, now time.Time) logevent.Millis {
	if days <= 0 {
		days = tenant.DefaultEnterpriseRetentionDays
	}
	return logevent.MillisOf(now.Add(-time.Duration(days) * 24 * time.Hour))
}

// WorkspaceID is the scope's workspace.
func (s Scope) WorkspaceID() string { return s.workspaceID }

// OrganisationID is the scope's organisation.
func (s Scope) OrganisationID() string { return s.organisationID }

// RetentionCutoff is the oldest created_at the scope shows (inclusive).
func (s Scope) RetentionCutoff() logevent.Millis { return s.cutoff }

// Valid reports whether s was made from a principal (the zero Scope is not).
func (s Scope) Valid() bool { return s.workspaceID != "" }

// Where returns the scope's WHERE fragment over the logs table,
// "workspace_id = ? AND created_at >= ?", and its arguments.
func (s Scope) Where() (string, []any) {
	return colWorkspace + " = ? AND " + colCreatedAt + " >= ?", []any{s.workspaceID, uint64(s.cutoff)}
}
