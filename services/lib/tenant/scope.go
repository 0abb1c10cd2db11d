package tenant

import "errors"

// Scope is one tenant: a workspace of an organisation. Two organisations may
// both name a workspace "prod", so a workspace id alone never identifies a
// tenant; every read and write of tenant data is filtered by both ids.
//
// Tenancy by construction: every function that reads or writes tenant rows
// (the query store, feedback, export jobs, share links, signed URLs) takes a
// Scope and derives its WHERE fragment from Scope.Where, and no such function
// accepts a bare workspace id. A Scope is made from an authenticated
// Principal (Principal.Scope) or, for records this system wrote itself and
// has verified (an export job row, a share token whose MAC checked), by
// ScopeOf. The zero Scope is invalid and matches nothing.
type Scope struct {
	organisationID string
	workspaceID    string
}

// ErrNoScope reports a read or write attempted without a valid Scope (a
// wiring bug: callers answer it 500, never with data).
var ErrNoScope = errors.New("no tenant scope (organisation and workspace are both required)")

// Scope returns the tenant p acts for.
func (p Principal) Scope() Scope {
	return Scope{organisationID: p.OrganisationID, workspaceID: p.WorkspaceID}
}

// ScopeOf returns the scope of organisation's workspace, for records written
// and verified by this system (export jobs, verified share tokens and signed
// URLs). Both ids are required.
func ScopeOf(organisation, workspace string) (Scope, error) {
	if organisation == "" || workspace == "" {
		return Scope{}, ErrNoScope
	}
	return Scope{organisationID: organisation, workspaceID: workspace}, nil
}

// OrganisationID is the scope's organisation.
func (s Scope) OrganisationID() string { return s.organisationID }

// WorkspaceID is the scope's workspace.
func (s Scope) WorkspaceID() string { return s.workspaceID }

// Valid reports whether s names both an organisation and a workspace.
func (s Scope) Valid() bool { return s.organisationID != "" && s.workspaceID != "" }

// Where returns the SQL fragment "organisation_id = ? AND workspace_id = ?"
// and its two arguments; every tenant table has both columns first in its
// ordering key, so the fragment also selects the tenant's key range.
func (s Scope) Where() (string, []any) {
	return "organisation_id = ? AND workspace_id = ?", []any{s.organisationID, s.workspaceID}
}
