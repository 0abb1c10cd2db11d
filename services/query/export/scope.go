package export

import (
	"time"

	"logpipe/lib/logevent"
)

// scopeWhere is the workspace and retention scope of j's reads: the
// creator's workspace, and nothing older than the creator's retention.
func scopeWhere(j *Job) (string, []any) {
	ws, _ := logevent.Lookup("workspace_id")
	cutoff := logevent.MillisOf(time.Now().Add(-time.Duration(j.RetentionDays) * 24 * time.Hour))
	return ws.Quoted() + " = ? AND " + createdAt() + " >= ?", []any{j.WorkspaceID, uint64(cutoff)}
}
