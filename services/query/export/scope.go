package export

import (
	"time"

	"logpipe/lib/tenant"
	"logpipe/query/store"
)

// scope is the tenancy of j's reads: the scope of the principal that created
// it (its workspace, and nothing older than its plan's retention at now).
func scope(j *Job, now time.Time) store.Scope {
	return store.NewScope(tenant.Principal{KeyID: j.CreatedBy, OrganisationID: j.OrganisationID,
		WorkspaceID: j.WorkspaceID, Role: tenant.RoleAdmin, Plan: tenant.Plan(j.Plan),
		RetentionDays: int(j.RetentionDays)}, now)
}
