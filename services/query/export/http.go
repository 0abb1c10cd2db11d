package export

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"logpipe/lib/apierr"
	"logpipe/lib/logevent"
	"logpipe/lib/tenant"
	"logpipe/query/filter"
)

// Register adds the export routes: the API under api (behind
// tenant.Authenticate) and the signed file download under public (no API
// key: the signature is the credential).
func (s *Service) Register(api gin.IRoutes, public gin.IRoutes) {
	g := []gin.HandlerFunc{s.guard}
	api.POST("/v1/logs/exports", append(g, s.create)...)
	api.GET("/v1/logs/exports", append(g, s.list)...)
	api.GET("/v1/logs/exports/:id", append(g, s.retrieve)...)
	api.PUT("/v1/logs/exports/:id", append(g, s.update)...)
	api.POST("/v1/logs/exports/:id/start", append(g, s.start)...)
	api.POST("/v1/logs/exports/:id/cancel", append(g, s.cancel)...)
	api.GET("/v1/logs/exports/:id/download", append(g, s.download)...)
	public.GET(FilePath, s.file)
}

// FilePath is the route of signed file downloads.
const FilePath = "/v1/logs/exports/:id/file"

// guard admits admins of organisations whose plan includes exports.
func (s *Service) guard(c *gin.Context) {
	p := tenant.From(c)
	if p.Role != tenant.RoleAdmin {
		apierr.Abort(c, http.StatusForbidden, apierr.CodeForbidden,
			fmt.Sprintf("log exports are for admins only: this API key has the %s role", p.Role))
		return
	}
	if p.Plan.Limits().ExportDays == 0 {
		apierr.Abort(c, http.StatusForbidden, apierr.CodeForbidden,
			fmt.Sprintf("the %s plan does not include log exports: the production plan exports the last 30 days, enterprise any range", p.Plan))
		return
	}
	c.Next()
}

// jobRequest is the body of create and update.
type jobRequest struct {
	WorkspaceID   *string         `json:"workspace_id"`
	Filters       json.RawMessage `json:"filters"`
	RequestedData []string        `json:"requested_data"`
	Description   *string         `json:"description"`
	// Compression is "gzip" for a gzipped file, "" or "none" for plain JSONL.
	Compression *string `json:"compression"`
	// ExportID is sent by the official SDKs on update (exportId or
	// export_id, by version); the path names the job.
	ExportID  string `json:"exportId"`
	ExportID2 string `json:"export_id"`
}

func decodeRequest(c *gin.Context) (jobRequest, bool) {
	var r jobRequest
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, 1<<20))
	if err != nil {
		apierr.Abort(c, http.StatusBadRequest, apierr.CodeInvalid, "cannot read the request body")
		return r, false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return r, true
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(&r); err != nil {
		msg := err.Error()
		param := ""
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			param = te.Field
			msg = fmt.Sprintf("%s must be %s", te.Field, te.Type)
		} else if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
			param = strings.Trim(f, `"`)
			msg = "unknown field " + f + "; the fields are workspace_id, filters, requested_data, description, compression"
		}
		if param == "" {
			apierr.Abort(c, http.StatusBadRequest, apierr.CodeInvalid, "malformed JSON body: "+msg)
		} else {
			apierr.AbortParam(c, param, msg)
		}
		return r, false
	}
	return r, true
}

// apply validates r and applies it to j (a new draft or a draft being
// updated), resolving the time range against p's plan at now.
func (s *Service) apply(c *gin.Context, p tenant.Principal, r jobRequest, j *Job) bool {
	if r.WorkspaceID != nil && *r.WorkspaceID != "" && *r.WorkspaceID != p.WorkspaceID {
		apierr.Abort(c, http.StatusNotFound, apierr.CodeNotFound, "no such workspace: "+*r.WorkspaceID)
		return false
	}
	if r.Filters != nil {
		j.Filters = string(r.Filters)
		if t := bytes.TrimSpace(r.Filters); string(t) == "null" {
			j.Filters = ""
		}
	}
	if r.RequestedData != nil {
		if _, err := Columns(r.RequestedData); err != nil {
			apierr.AbortParam(c, "requested_data", err.Error())
			return false
		}
		j.RequestedData = r.RequestedData
	}
	if r.Description != nil {
		if len(*r.Description) > 1024 {
			apierr.AbortParam(c, "description", "at most 1024 bytes")
			return false
		}
		j.Description = *r.Description
	}
	if r.Compression != nil {
		switch *r.Compression {
		case "", "none":
			j.Compression = CompressionNone
		case CompressionGzip:
			j.Compression = CompressionGzip
		default:
			apierr.AbortParam(c, "compression", `must be "gzip" or "none"`)
			return false
		}
	}
	f, err := filter.FromJSON(json.RawMessage(j.Filters))
	if err != nil {
		if fe, ok := filter.AsError(err); ok {
			apierr.AbortParam(c, "filters."+fe.Param, fe.Message)
		} else {
			apierr.AbortParam(c, "filters", err.Error())
		}
		return false
	}
	min, max, msg := Window(p, f.Min, f.Max, s.now())
	if msg != "" {
		apierr.AbortParam(c, "filters."+filter.TimeMin, msg)
		return false
	}
	j.TimeMin, j.TimeMax = min, max
	return true
}

// exportSlack tolerates clocks and request latency at the plan window's edge.
const exportSlack = 5 * time.Minute

// Window resolves an export's created_at range [min, max] (ms, inclusive)
// from the requested bounds (0: absent) and p's plan at now, or says why the
// range is not allowed. Without a lower bound an export starts at the plan's
// window (production: 30 days ago) or the retention (enterprise).
func Window(p tenant.Principal, min, max logevent.Millis, now time.Time) (logevent.Millis, logevent.Millis, string) {
	days := p.Plan.Limits().ExportDays
	if max == 0 {
		max = logevent.MillisOf(now)
	}
	earliest := logevent.Millis(0)
	if days > 0 {
		earliest = logevent.MillisOf(now.Add(-time.Duration(days) * 24 * time.Hour))
	}
	if min == 0 {
		if days > 0 {
			min = earliest
		} else {
			min = logevent.MillisOf(now.Add(-time.Duration(p.RetentionDays) * 24 * time.Hour))
		}
	}
	if days > 0 && min < earliest-logevent.Millis(exportSlack.Milliseconds()) {
		return 0, 0, fmt.Sprintf("the %s plan exports the last %d days: the range must start after %s", p.Plan, days, earliest)
	}
	if min > max {
		return 0, 0, "the range starts after it ends"
	}
	return min, max, ""
}

// count returns the number of logs j will export, deduplicated through the
// store's one deduplicated source (logs FINAL).
func (s *Service) count(ctx context.Context, j *Job) (uint64, error) {
	f, err := filter.FromJSON(json.RawMessage(j.Filters))
	if err != nil {
		return 0, err
	}
	sc, err := scope(j, s.now())
	if err != nil {
		return 0, err
	}
	f.Min, f.Max = j.TimeMin, j.TimeMax // the job's range, both inclusive
	n, err := s.store.Count(ctx, sc, f)
	if err != nil {
		return 0, fmt.Errorf("count export logs: %w", err)
	}
	return n, nil
}

func (s *Service) unavailable(c *gin.Context, err error) {
	s.log.Error("export request failed", "err", err, "path", c.FullPath())
	apierr.Abort(c, http.StatusServiceUnavailable, apierr.CodeUnavailable, "the log store is unavailable; retry later")
}

func (s *Service) create(c *gin.Context) {
	p := tenant.From(c)
	r, ok := decodeRequest(c)
	if !ok {
		return
	}
	now := s.now()
	j := Job{ID: "exp_" + logevent.NewID(), OrganisationID: p.OrganisationID, WorkspaceID: p.WorkspaceID,
		CreatedBy: p.KeyID, Status: StatusDraft, CreatedAt: logevent.MillisOf(now),
		Plan: string(p.Plan), RetentionDays: uint16(p.RetentionDays)}
	if !s.apply(c, p, r, &j) {
		return
	}
	s.countAndSave(c, &j)
}

// countAndSave counts the logs j will export, stores j and answers
// {id, total, object} (create and update).
func (s *Service) countAndSave(c *gin.Context, j *Job) {
	n, err := s.count(c.Request.Context(), j)
	if err != nil {
		s.unavailable(c, err)
		return
	}
	j.TotalRecords = n
	if err := s.jobs.Put(c.Request.Context(), j); err != nil {
		s.unavailable(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"id": j.ID, "total": j.TotalRecords, "object": "export"})
}

// load returns the job named in the path, answering 404 across tenants.
func (s *Service) load(c *gin.Context) (Job, bool) {
	p := tenant.From(c)
	j, ok, err := s.jobs.Get(c.Request.Context(), p.Scope(), c.Param("id"))
	if err != nil {
		s.unavailable(c, err)
		return j, false
	}
	if !ok {
		apierr.Abort(c, http.StatusNotFound, apierr.CodeNotFound, "no such export: "+c.Param("id"))
		return j, false
	}
	return j, true
}

func (s *Service) list(c *gin.Context) {
	p := tenant.From(c)
	if ws := c.Query("workspace_id"); ws != "" && ws != p.WorkspaceID {
		apierr.Abort(c, http.StatusNotFound, apierr.CodeNotFound, "no such workspace: "+ws)
		return
	}
	js, err := s.jobs.List(c.Request.Context(), p.Scope())
	if err != nil {
		s.unavailable(c, err)
		return
	}
	data := make([]jobView, len(js))
	for i := range js {
		data[i] = s.view(&js[i])
	}
	c.JSON(http.StatusOK, gin.H{"object": "list", "total": len(data), "data": data})
}

func (s *Service) retrieve(c *gin.Context) {
	j, ok := s.load(c)
	if !ok {
		return
	}
	c.JSON(http.StatusOK, s.view(&j))
}

func (s *Service) update(c *gin.Context) {
	p := tenant.From(c)
	r, ok := decodeRequest(c)
	if !ok {
		return
	}
	j, ok := s.load(c)
	if !ok {
		return
	}
	if j.Status != StatusDraft {
		apierr.Abort(c, http.StatusConflict, apierr.CodeInvalid, "only a draft export can be updated; this one is "+j.Status)
		return
	}
	if !s.apply(c, p, r, &j) {
		return
	}
	s.countAndSave(c, &j)
}

func (s *Service) start(c *gin.Context) {
	j, ok := s.load(c)
	if !ok {
		return
	}
	switch j.Status {
	case StatusDraft, StatusFailed, StatusStopped:
	default:
		apierr.Abort(c, http.StatusConflict, apierr.CodeInvalid, "the export is "+j.Status+"; only a draft, failed or stopped export can be started")
		return
	}
	j.Status, j.Owner, j.Error = StatusInProgress, "", ""
	j.RowsDone, j.BytesDone, j.ResumeCursor, j.FilePath = 0, 0, 0, ""
	j.StartedAt, j.FinishedAt = logevent.MillisOf(s.now()), 0
	if err := s.jobs.Put(c.Request.Context(), &j); err != nil {
		s.unavailable(c, err)
		return
	}
	s.poke()
	c.JSON(http.StatusOK, gin.H{"id": j.ID, "status": j.Status, "message": "export started", "object": "export"})
}

func (s *Service) cancel(c *gin.Context) {
	j, ok := s.load(c)
	if !ok {
		return
	}
	if j.Status != StatusInProgress && j.Status != StatusDraft {
		apierr.Abort(c, http.StatusConflict, apierr.CodeInvalid, "the export is "+j.Status+"; only a draft or in_progress export can be cancelled")
		return
	}
	s.mu.Lock()
	r := s.running[j.ID]
	s.mu.Unlock()
	if r != nil {
		// running here: the worker stops, removes its partial file and
		// records the stopped status itself
		r.cancel(errCancelled)
		select {
		case <-r.done:
		case <-time.After(30 * time.Second):
			s.unavailable(c, errors.New("export worker did not stop within 30s"))
			return
		case <-c.Request.Context().Done():
			return
		}
	} else {
		// queued, or running in another process, which sees the stopped
		// version at its next checkpoint and removes its partial file
		j.Status, j.Owner, j.FinishedAt = StatusStopped, "", logevent.MillisOf(s.now())
		if err := s.jobs.Put(c.Request.Context(), &j); err != nil {
			s.unavailable(c, err)
			return
		}
		s.m.finished.WithLabelValues(StatusStopped).Inc()
	}
	c.JSON(http.StatusOK, gin.H{"id": j.ID, "status": StatusStopped, "message": "export cancelled", "object": "export"})
}

func (s *Service) download(c *gin.Context) {
	j, ok := s.load(c)
	if !ok {
		return
	}
	if j.Status != StatusSuccess {
		apierr.Abort(c, http.StatusConflict, apierr.CodeInvalid, "the export is "+j.Status+"; only a successful export can be downloaded")
		return
	}
	if j.FilePath == "" {
		apierr.Abort(c, http.StatusGone, apierr.CodeNotFound, "the export file has expired; start the export again")
		return
	}
	exp := s.now().Add(s.cfg.URLTTL)
	u := s.cfg.PublicURL + strings.Replace(FilePath, ":id", j.ID, 1) + "?" + s.signer.Sign(j.Tenant(), j.ID, exp).Encode()
	c.JSON(http.StatusOK, gin.H{"signed_url": u, "expires_at": logevent.MillisOf(exp)})
}

// file streams an export file to the holder of a valid signed URL, with
// Range support (http.ServeContent) so an interrupted download resumes.
func (s *Service) file(c *gin.Context) {
	id := c.Param("id")
	t, err := s.signer.Verify(id, c.Request.URL.Query(), s.now())
	if err != nil {
		apierr.Abort(c, http.StatusForbidden, apierr.CodeForbidden, err.Error())
		return
	}
	j, ok, err := s.jobs.Get(c.Request.Context(), t, id)
	if err != nil {
		s.unavailable(c, err)
		return
	}
	if !ok || j.Status != StatusSuccess {
		apierr.Abort(c, http.StatusNotFound, apierr.CodeNotFound, "no such export file")
		return
	}
	if j.FilePath == "" {
		apierr.Abort(c, http.StatusGone, apierr.CodeNotFound, "the export file has expired; start the export again")
		return
	}
	f, err := os.Open(s.path(j.FilePath))
	if err != nil {
		apierr.Abort(c, http.StatusGone, apierr.CodeNotFound, "the export file is gone; start the export again")
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		s.unavailable(c, err)
		return
	}
	ctype := "application/x-ndjson"
	if j.Compression == CompressionGzip {
		ctype = "application/gzip"
	}
	c.Header("Content-Type", ctype)
	c.Header("Content-Disposition", `attachment; filename="`+j.FilePath+`"`)
	c.Header("Cache-Control", "private, no-store")
	http.ServeContent(c.Writer, c.Request, j.FilePath, st.ModTime(), f)
}

// jobView is the JSON of an export job.
type jobView struct {
	ID             string           `json:"id"`
	Object         string           `json:"object"`
	OrganisationID string           `json:"organisation_id"`
	WorkspaceID    string           `json:"workspace_id"`
	Description    string           `json:"description"`
	Status         string           `json:"status"`
	Filters        json.RawMessage  `json:"filters"`
	RequestedData  []string         `json:"requested_data"`
	Compression    string           `json:"compression"`
	TotalRecords   uint64           `json:"total_records"`
	Progress       progressView     `json:"progress"`
	CreatedBy      string           `json:"created_by"`
	CreatedAt      *logevent.Millis `json:"created_at"`
	LastUpdatedAt  *logevent.Millis `json:"last_updated_at"`
	StartedAt      *logevent.Millis `json:"started_at"`
	FinishedAt     *logevent.Millis `json:"finished_at"`
	ExpiresAt      *logevent.Millis `json:"expires_at"`
	Error          *string          `json:"error"`
}

type progressView struct {
	RowsDone  uint64 `json:"rows_done"`
	RowsTotal uint64 `json:"rows_total"`
	Bytes     uint64 `json:"bytes"`
}

func ms(m logevent.Millis) *logevent.Millis {
	if m == 0 {
		return nil
	}
	return &m
}

func (s *Service) view(j *Job) jobView {
	v := jobView{ID: j.ID, Object: "export", OrganisationID: j.OrganisationID, WorkspaceID: j.WorkspaceID,
		Description: j.Description, Status: j.Status, Filters: json.RawMessage(j.Filters),
		RequestedData: j.RequestedData, Compression: j.Compression, TotalRecords: j.TotalRecords,
		Progress:  progressView{RowsDone: j.RowsDone, RowsTotal: j.TotalRecords, Bytes: j.BytesDone},
		CreatedBy: j.CreatedBy, CreatedAt: ms(j.CreatedAt), LastUpdatedAt: ms(logevent.Millis(j.Version / 1e6)),
		StartedAt: ms(j.StartedAt), FinishedAt: ms(j.FinishedAt)}
	if j.Filters == "" {
		v.Filters = json.RawMessage("{}")
	}
	if v.RequestedData == nil {
		v.RequestedData = []string{}
	}
	if j.Compression == "" {
		v.Compression = "none"
	}
	if j.Status == StatusSuccess && j.FilePath != "" {
		v.ExpiresAt = ms(j.FinishedAt + logevent.Millis(s.cfg.TTL.Milliseconds()))
	}
	if j.Error != "" {
		v.Error = &j.Error
	}
	return v
}
