package export

import (
	"fmt"
	"time"

	"logpipe/lib/tenant"
	"logpipe/query/store"
)

// Tenant is the tenant the job belongs to (the invalid zero Scope for a job
// row without both ids, which then matches nothing).
func (j *Job) Tenant() tenant.Scope {
	t, _ := tenant.ScopeOf(j.OrganisationID, j.WorkspaceID)
	return t
}

// scope is the tenancy of j's reads: the tenant that created it, and
// nothing older than its plan's retention at now.
func scope(j *Job, now time.Time) (store.Scope, error) {
	t, err := tenant.ScopeOf(j.OrganisationID, j.WorkspaceID)
	if err != nil {
		return store.Scope{}, fmt.Errorf("export job %s: %w", j.ID, err)
	}
	return store.ScopeFor(t, int(j.RetentionDays), now), nil
}
