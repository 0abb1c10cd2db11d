// Package savedfilter stores the named views of the web console (saved
// filters) in ClickHouse and serves them under /v1/saved-filters. A saved
// filter belongs to an organisation: every key of the organisation lists it;
// its creator or an admin of the organisation deletes it.
//
// Every function takes the caller's tenant.Scope (a valid one: the zero
// Scope is refused) and reads or writes by its organisation only: a saved
// filter is organisation-wide by design; the workspace that saved it is
// recorded beside it.
//
// Rows are versioned (ReplacingMergeTree on version): a change writes a new
// version, a deletion writes a version with deleted = 1, and reads take the
// latest version of every id (FINAL).
package savedfilter

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"sort"
	"time"
	"unicode/utf8"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/gin-gonic/gin"

	"logpipe/lib/apierr"
	"logpipe/lib/logevent"
	"logpipe/lib/tenant"
)

// Table is the ClickHouse table of saved filters (migration 0007).
const Table = "saved_filters"

// Limits of one saved filter and of an organisation.
const (
	MaxNameChars    = 128
	MaxParams       = 64
	MaxValueBytes   = 4096
	MaxPerOrg       = 500
	maxBodyBytes    = 64 << 10
	selectColumns   = "id, workspace_id, name, filters, created_by, created_at"
	insertStatement = "INSERT INTO " + Table + " (organisation_id, id, workspace_id, name, filters, created_by, created_at, deleted, version)"
)

// ParamPattern is what a filter parameter name must look like (the URL
// parameters of a console view: time_of_generation_min, metadata, columns, ...).
var ParamPattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)

// SavedFilter is one saved view as the API answers it.
type SavedFilter struct {
	Object      string            `json:"object"`
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Filters     map[string]string `json:"filters"`
	WorkspaceID string            `json:"workspace_id"`
	CreatedBy   string            `json:"created_by"`
	CreatedAt   logevent.Millis   `json:"created_at"`
}

// Service reads and writes saved filters.
type Service struct {
	conn driver.Conn
	log  *slog.Logger
	now  func() time.Time
}

// New returns the service over conn.
func New(conn driver.Conn, log *slog.Logger) *Service {
	return &Service{conn: conn, log: log, now: time.Now}
}

// Register adds the routes to g, which must be behind tenant.Authenticate.
func (s *Service) Register(g gin.IRoutes) {
	g.GET("/v1/saved-filters", s.list)
	g.POST("/v1/saved-filters", s.create)
	g.DELETE("/v1/saved-filters/:id", s.remove)
}

// List returns the saved filters of sc's organisation, newest first.
func (s *Service) List(ctx context.Context, sc tenant.Scope) ([]SavedFilter, error) {
	if !sc.Valid() {
		return nil, tenant.ErrNoScope
	}
	rows, err := s.conn.Query(ctx, "SELECT "+selectColumns+" FROM "+Table+" FINAL WHERE organisation_id = ? AND deleted = 0 ORDER BY created_at DESC, id LIMIT ?",
		sc.OrganisationID(), MaxPerOrg)
	if err != nil {
		return nil, fmt.Errorf("list saved filters: %w", err)
	}
	defer rows.Close()
	out := []SavedFilter{}
	for rows.Next() {
		var f SavedFilter
		var filters string
		var created uint64
		if err := rows.Scan(&f.ID, &f.WorkspaceID, &f.Name, &filters, &f.CreatedBy, &created); err != nil {
			return nil, fmt.Errorf("scan saved filter: %w", err)
		}
		if err := json.Unmarshal([]byte(filters), &f.Filters); err != nil {
			return nil, fmt.Errorf("saved filter %s: stored filters: %w", f.ID, err)
		}
		f.Object, f.CreatedAt = "saved-filter", logevent.Millis(created)
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list saved filters: %w", err)
	}
	return out, nil
}

// get returns the latest live version of id in sc's organisation.
func (s *Service) get(ctx context.Context, sc tenant.Scope, id string) (SavedFilter, bool, error) {
	all, err := s.List(ctx, sc)
	if err != nil {
		return SavedFilter{}, false, err
	}
	for _, f := range all {
		if f.ID == id {
			return f, true, nil
		}
	}
	return SavedFilter{}, false, nil
}

func (s *Service) write(ctx context.Context, sc tenant.Scope, f SavedFilter, deleted bool) error {
	if !sc.Valid() {
		return tenant.ErrNoScope
	}
	filters, err := json.Marshal(f.Filters)
	if err != nil {
		return fmt.Errorf("encode filters: %w", err)
	}
	b, err := s.conn.PrepareBatch(ctx, insertStatement)
	if err != nil {
		return fmt.Errorf("prepare saved filter insert: %w", err)
	}
	var del uint8
	if deleted {
		del = 1
	}
	if err := b.Append(sc.OrganisationID(), f.ID, f.WorkspaceID, f.Name, string(filters), f.CreatedBy, uint64(f.CreatedAt), del, uint64(s.now().UnixNano())); err != nil {
		return fmt.Errorf("append saved filter: %w", err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("insert saved filter: %w", err)
	}
	return nil
}

func (s *Service) list(c *gin.Context) {
	all, err := s.List(c.Request.Context(), tenant.From(c).Scope())
	if err != nil {
		s.unavailable(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"object": "list", "total": len(all), "data": all})
}

type createRequest struct {
	Name    string            `json:"name"`
	Filters map[string]string `json:"filters"`
}

// Validate checks a new saved filter's name and parameters.
func (r createRequest) Validate() (param, message string) {
	n := utf8.RuneCountInString(r.Name)
	if n == 0 || n > MaxNameChars {
		return "name", fmt.Sprintf("must be 1 to %d characters", MaxNameChars)
	}
	if len(r.Filters) > MaxParams {
		return "filters", fmt.Sprintf("at most %d parameters", MaxParams)
	}
	keys := make([]string, 0, len(r.Filters))
	for k := range r.Filters {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !ParamPattern.MatchString(k) {
			return "filters", fmt.Sprintf("parameter name %q must match %s", k, ParamPattern)
		}
		if len(r.Filters[k]) > MaxValueBytes {
			return "filters." + k, fmt.Sprintf("at most %d bytes", MaxValueBytes)
		}
	}
	return "", ""
}

func (s *Service) create(c *gin.Context) {
	var r createRequest
	d := json.NewDecoder(http.MaxBytesReader(c.Writer, c.Request.Body, maxBodyBytes))
	d.DisallowUnknownFields()
	if err := d.Decode(&r); err != nil {
		apierr.Abort(c, http.StatusBadRequest, apierr.CodeInvalid, "malformed JSON body: want {\"name\": string, \"filters\": {parameter: value}}: "+err.Error())
		return
	}
	if param, msg := r.Validate(); param != "" {
		apierr.AbortParam(c, param, msg)
		return
	}
	p := tenant.From(c)
	ctx := c.Request.Context()
	all, err := s.List(ctx, p.Scope())
	if err != nil {
		s.unavailable(c, err)
		return
	}
	if len(all) >= MaxPerOrg {
		apierr.Abort(c, http.StatusConflict, apierr.CodeInvalid, fmt.Sprintf("the organisation has %d saved filters, the most it may keep; delete some first", MaxPerOrg))
		return
	}
	if r.Filters == nil {
		r.Filters = map[string]string{}
	}
	f := SavedFilter{Object: "saved-filter", ID: "sf_" + logevent.NewID(), Name: r.Name, Filters: r.Filters,
		WorkspaceID: p.Scope().WorkspaceID(), CreatedBy: p.KeyID, CreatedAt: logevent.MillisOf(s.now())}
	if err := s.write(ctx, p.Scope(), f, false); err != nil {
		s.unavailable(c, err)
		return
	}
	c.JSON(http.StatusOK, f)
}

func (s *Service) remove(c *gin.Context) {
	p := tenant.From(c)
	ctx := c.Request.Context()
	f, ok, err := s.get(ctx, p.Scope(), c.Param("id"))
	if err != nil {
		s.unavailable(c, err)
		return
	}
	if !ok {
		apierr.Abort(c, http.StatusNotFound, apierr.CodeNotFound, "no such saved filter")
		return
	}
	if f.CreatedBy != p.KeyID && p.Role != tenant.RoleAdmin {
		apierr.Abort(c, http.StatusForbidden, apierr.CodeForbidden, "only the key that saved this filter or an admin may delete it")
		return
	}
	if err := s.write(ctx, p.Scope(), f, true); err != nil {
		s.unavailable(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"object": "saved-filter", "id": f.ID, "deleted": true})
}

func (s *Service) unavailable(c *gin.Context, err error) {
	if c.Request.Context().Err() != nil {
		c.Abort()
		return
	}
	s.log.Error("saved filters", "err", err, "route", c.FullPath())
	c.Header("Retry-After", "5")
	apierr.Abort(c, http.StatusServiceUnavailable, apierr.CodeUnavailable, "the saved filters are unavailable; retry later")
}
