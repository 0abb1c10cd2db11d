package export

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"logpipe/lib/logevent"
	"logpipe/lib/tenant"
)

// Statuses of an export job, spelled as the product does.
const (
	StatusDraft      = "draft"
	StatusInProgress = "in_progress"
	StatusSuccess    = "success"
	StatusFailed     = "failed"
	StatusStopped    = "stopped"
)

// Compression of the export file.
const (
	CompressionNone = ""
	CompressionGzip = "gzip"
)

// Job is one export job, one row version of the export_jobs table.
type Job struct {
	ID             string
	OrganisationID string
	WorkspaceID    string
	// CreatedBy is the API key id that created the job.
	CreatedBy   string
	Description string
	Status      string
	// Filters is the product's filter object as given (JSON), time range included.
	Filters       string
	RequestedData []string
	// TimeMin and TimeMax bound created_at: [TimeMin, TimeMax).
	TimeMin, TimeMax logevent.Millis
	// TotalRecords is the number of logs the job exports, counted when the
	// job is created or updated.
	TotalRecords uint64
	// RowsDone and BytesDone are the progress: lines and file bytes written.
	RowsDone, BytesDone uint64
	// FilePath is the file's name inside the export directory (empty until done).
	FilePath string
	// Error says why the job failed.
	Error                            string
	CreatedAt, StartedAt, FinishedAt logevent.Millis
	// Plan and RetentionDays are the creator's, so workers scope the query
	// as the creator's requests were scoped.
	Plan          string
	RetentionDays uint16
	Compression   string
	// Owner is the process running an in_progress job ("" when queued for
	// any process).
	Owner string
	// ResumeCursor is the created_at (ms) before which the file is complete.
	ResumeCursor logevent.Millis
	// Version orders row versions: the update time in nanoseconds.
	Version uint64
}

// jobColumn ties a column of export_jobs to its Job field, so the insert
// list, select list and values are derived from one table.
type jobColumn struct {
	name  string
	value func(j *Job) any
	dest  func(j *Job) any
}

func jstr(name string, f func(j *Job) *string) jobColumn {
	return jobColumn{name, func(j *Job) any { return *f(j) }, func(j *Job) any { return f(j) }}
}

func jms(name string, f func(j *Job) *logevent.Millis) jobColumn {
	return jobColumn{name, func(j *Job) any { return uint64(*f(j)) }, func(j *Job) any { return f(j) }}
}

func ju64(name string, f func(j *Job) *uint64) jobColumn {
	return jobColumn{name, func(j *Job) any { return *f(j) }, func(j *Job) any { return f(j) }}
}

var jobColumns = []jobColumn{
	jstr("id", func(j *Job) *string { return &j.ID }),
	jstr("organisation_id", func(j *Job) *string { return &j.OrganisationID }),
	jstr("workspace_id", func(j *Job) *string { return &j.WorkspaceID }),
	jstr("created_by", func(j *Job) *string { return &j.CreatedBy }),
	jstr("description", func(j *Job) *string { return &j.Description }),
	jstr("status", func(j *Job) *string { return &j.Status }),
	jstr("filters", func(j *Job) *string { return &j.Filters }),
	{"requested_data", func(j *Job) any {
		if j.RequestedData == nil {
			return []string{}
		}
		return j.RequestedData
	}, func(j *Job) any { return &j.RequestedData }},
	jms("time_min", func(j *Job) *logevent.Millis { return &j.TimeMin }),
	jms("time_max", func(j *Job) *logevent.Millis { return &j.TimeMax }),
	ju64("total_records", func(j *Job) *uint64 { return &j.TotalRecords }),
	ju64("rows_done", func(j *Job) *uint64 { return &j.RowsDone }),
	ju64("bytes_done", func(j *Job) *uint64 { return &j.BytesDone }),
	jstr("file_path", func(j *Job) *string { return &j.FilePath }),
	jstr("error", func(j *Job) *string { return &j.Error }),
	jms("created_at", func(j *Job) *logevent.Millis { return &j.CreatedAt }),
	jms("started_at", func(j *Job) *logevent.Millis { return &j.StartedAt }),
	jms("finished_at", func(j *Job) *logevent.Millis { return &j.FinishedAt }),
	jstr("plan", func(j *Job) *string { return &j.Plan }),
	{"retention_days", func(j *Job) any { return j.RetentionDays }, func(j *Job) any { return &j.RetentionDays }},
	jstr("compression", func(j *Job) *string { return &j.Compression }),
	jstr("owner", func(j *Job) *string { return &j.Owner }),
	jms("resume_cursor", func(j *Job) *logevent.Millis { return &j.ResumeCursor }),
	ju64("version", func(j *Job) *uint64 { return &j.Version }),
}

// JobsTable is the ClickHouse table of export jobs.
const JobsTable = "export_jobs"

var jobSelect = func() string {
	names := make([]string, len(jobColumns))
	for i, c := range jobColumns {
		names[i] = c.name
	}
	return strings.Join(names, ", ")
}()

// Jobs persists export jobs in ClickHouse: every change is a new row version.
type Jobs struct {
	conn driver.Conn

	mu   sync.Mutex
	last uint64 // last version written by this process
}

// NewJobs returns the job store over conn's database.
func NewJobs(conn driver.Conn) *Jobs { return &Jobs{conn: conn} }

// nextVersion returns a version above every one this process wrote before.
func (s *Jobs) nextVersion() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := uint64(time.Now().UnixNano())
	if v <= s.last {
		v = s.last + 1
	}
	s.last = v
	return v
}

// Put writes j as its newest version and sets j.Version.
func (s *Jobs) Put(ctx context.Context, j *Job) error {
	j.Version = s.nextVersion()
	b, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+JobsTable+" ("+jobSelect+")")
	if err != nil {
		return fmt.Errorf("write export job %s: %w", j.ID, err)
	}
	row := make([]any, len(jobColumns))
	for i, c := range jobColumns {
		row[i] = c.value(j)
	}
	if err := b.Append(row...); err != nil {
		b.Abort()
		return fmt.Errorf("write export job %s: %w", j.ID, err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("write export job %s: %w", j.ID, err)
	}
	return nil
}

// query returns the latest version of the jobs matching where.
func (s *Jobs) query(ctx context.Context, where string, args ...any) ([]Job, error) {
	rows, err := s.conn.Query(ctx, "SELECT "+jobSelect+" FROM "+JobsTable+" FINAL WHERE "+where+" ORDER BY created_at DESC, id", args...)
	if err != nil {
		return nil, fmt.Errorf("read export jobs: %w", err)
	}
	defer rows.Close()
	var out []Job
	for rows.Next() {
		var j Job
		dests := make([]any, len(jobColumns))
		for i, c := range jobColumns {
			dests[i] = c.dest(&j)
		}
		if err := rows.Scan(dests...); err != nil {
			return nil, fmt.Errorf("read export jobs: %w", err)
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read export jobs: %w", err)
	}
	return out, nil
}

// Get returns tenant t's job id; ok is false when t has none (another
// tenant's job included).
func (s *Jobs) Get(ctx context.Context, t tenant.Scope, id string) (Job, bool, error) {
	if !t.Valid() {
		return Job{}, false, tenant.ErrNoScope
	}
	w, args := t.Where()
	js, err := s.query(ctx, w+" AND id = ?", append(args, id)...)
	if err != nil || len(js) == 0 {
		return Job{}, false, err
	}
	return js[0], true, nil
}

// List returns tenant t's jobs, newest first.
func (s *Jobs) List(ctx context.Context, t tenant.Scope) ([]Job, error) {
	if !t.Valid() {
		return nil, tenant.ErrNoScope
	}
	w, args := t.Where()
	return s.query(ctx, w, args...)
}

// InProgress returns every in_progress job of every tenant (for the
// process-wide runner, which then reads each job's logs in its own tenant).
func (s *Jobs) InProgress(ctx context.Context) ([]Job, error) {
	return s.query(ctx, "status = ?", StatusInProgress)
}

// Finished returns every job that finished before the instant (ms), whatever its status.
func (s *Jobs) Finished(ctx context.Context, before logevent.Millis) ([]Job, error) {
	return s.query(ctx, "finished_at > 0 AND finished_at < ? AND file_path != ''", uint64(before))
}

// filtersOf decodes a job's stored filter object.
func filtersOf(j *Job) (map[string]json.RawMessage, error) {
	m := map[string]json.RawMessage{}
	if j.Filters == "" {
		return m, nil
	}
	if err := json.Unmarshal([]byte(j.Filters), &m); err != nil {
		return nil, fmt.Errorf("export job %s: stored filters: %w", j.ID, err)
	}
	return m, nil
}
