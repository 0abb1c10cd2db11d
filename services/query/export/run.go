package export

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"logpipe/lib/logevent"
	"logpipe/query/filter"
)

// fileName is the name of j's finished file in the export directory.
func fileName(j *Job) string {
	if j.Compression == CompressionGzip {
		return j.ID + ".jsonl.gz"
	}
	return j.ID + ".jsonl"
}

// path returns the path of name inside the export directory.
func (s *Service) path(name string) string { return filepath.Join(s.cfg.Dir, filepath.Base(name)) }

// partPath is where this process writes j before it is complete.
func (s *Service) partPath(j *Job) string { return s.path(fileName(j) + ".part") }

// window is a created_at range [lo, hi) of an export, in ms.
type window struct{ lo, hi logevent.Millis }

// where builds the WHERE of j's logs over the logs table (tenant scope and
// filters; the caller adds the time window). Reads in (created_at, id) order
// need no FINAL: copies of a log share the whole sorting key, so they are
// adjacent and write drops repeats (the store's keyset-read rule).
func (s *Service) where(j *Job) (string, []any, error) {
	f, err := filter.FromJSON(json.RawMessage(j.Filters))
	if err != nil {
		return "", nil, fmt.Errorf("filters: %w", err)
	}
	w, args := scope(j, s.now()).Where()
	fw, fargs := f.Where(j.WorkspaceID)
	return w + " AND " + fw, append(args, fargs...), nil
}

// windows splits j's remaining range (from its resume cursor) into windows of
// about WindowRows logs, from a histogram of created_at.
func (s *Service) windows(ctx context.Context, j *Job, where string, args []any) ([]window, error) {
	lo := j.TimeMin
	if j.ResumeCursor > lo {
		lo = j.ResumeCursor
	}
	hi := j.TimeMax + 1 // TimeMax is inclusive
	if lo >= hi {
		return nil, nil
	}
	bucket := int64(hi-lo) / 20_000
	if bucket < 1000 {
		bucket = 1000
	}
	ca := createdAt()
	q := "SELECT intDiv(" + ca + ", ?) AS b, count() FROM " + logevent.LogsTable +
		" WHERE " + where + " AND " + ca + " >= ? AND " + ca + " < ? GROUP BY b ORDER BY b"
	rows, err := s.conn.Query(ctx, q, append([]any{uint64(bucket)}, append(args, uint64(lo), uint64(hi))...)...)
	if err != nil {
		return nil, fmt.Errorf("plan export windows: %w", err)
	}
	defer rows.Close()
	var out []window
	var cur window
	var n uint64
	for rows.Next() {
		var b, c uint64
		if err := rows.Scan(&b, &c); err != nil {
			return nil, fmt.Errorf("plan export windows: %w", err)
		}
		start := logevent.Millis(int64(b) * bucket)
		if start < lo {
			start = lo
		}
		end := logevent.Millis((int64(b) + 1) * bucket)
		if end > hi {
			end = hi
		}
		if n == 0 {
			cur.lo = start
		}
		cur.hi, n = end, n+c
		if n >= uint64(s.cfg.WindowRows) {
			out = append(out, cur)
			n = 0
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("plan export windows: %w", err)
	}
	if n > 0 {
		out = append(out, cur)
	}
	return out, nil
}

func createdAt() string { c, _ := logevent.Lookup("created_at"); return c.Quoted() }

// execute runs j to its end (success, failed, stopped) or until it is
// interrupted (shutdown: the job is released for resumption; taken over:
// left alone).
func (s *Service) execute(ctx context.Context, j Job) {
	err := s.write(ctx, &j)
	if ctx.Err() != nil {
		err = context.Cause(ctx)
	}
	bg := context.WithoutCancel(ctx)
	switch {
	case err == nil:
		s.m.finished.WithLabelValues(StatusSuccess).Inc()
		s.log.Info("export finished", "job", j.ID, "rows", j.RowsDone, "bytes", j.BytesDone)
		return
	case errors.Is(err, errShutdown):
		j.Owner = ""
		if perr := s.jobs.Put(bg, &j); perr != nil {
			s.log.Error("release export job failed", "job", j.ID, "err", perr)
		}
		s.log.Info("export interrupted; released for resumption", "job", j.ID, "rows", j.RowsDone)
		return
	case errors.Is(err, errTakenOver), errors.Is(err, errCancelledElsewhere):
		// the job's newest version belongs to someone else now
		_ = os.Remove(s.partPath(&j))
		s.log.Info("export abandoned", "job", j.ID, "reason", err.Error())
		return
	case errors.Is(err, errCancelled):
		_ = os.Remove(s.partPath(&j))
		j.Status, j.Owner, j.FinishedAt = StatusStopped, "", logevent.MillisOf(s.now())
		if perr := s.jobs.Put(bg, &j); perr != nil {
			s.log.Error("write stopped export job failed", "job", j.ID, "err", perr)
		}
		s.m.finished.WithLabelValues(StatusStopped).Inc()
		s.log.Info("export stopped", "job", j.ID, "rows", j.RowsDone)
		return
	}
	_ = os.Remove(s.partPath(&j))
	j.Status, j.Owner, j.Error, j.FinishedAt = StatusFailed, "", err.Error(), logevent.MillisOf(s.now())
	if perr := s.jobs.Put(bg, &j); perr != nil {
		s.log.Error("write failed export job failed", "job", j.ID, "err", perr)
	}
	s.m.finished.WithLabelValues(StatusFailed).Inc()
	s.log.Error("export failed", "job", j.ID, "err", err)
}

// countWriter counts the bytes that reach the file.
type countWriter struct {
	w io.Writer
	n uint64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += uint64(n)
	return n, err
}

// write streams j's logs into its part file window by window, checkpointing
// after each window, and renames the file into place when complete.
func (s *Service) write(ctx context.Context, j *Job) error {
	cols, err := Columns(j.RequestedData)
	if err != nil {
		return err
	}
	where, args, err := s.where(j)
	if err != nil {
		return err
	}
	f, err := s.openPart(j)
	if err != nil {
		return err
	}
	defer f.Close()
	if j.StartedAt == 0 {
		j.StartedAt = logevent.MillisOf(s.now())
	}
	wins, err := s.windows(ctx, j, where, args)
	if err != nil {
		return err
	}
	cw := &countWriter{w: f, n: j.BytesDone}
	bw := bufio.NewWriterSize(cw, 1<<20)
	var out io.Writer = bw
	var gz *gzip.Writer
	if j.Compression == CompressionGzip {
		// one gzip member per window: the file is a valid gzip stream at
		// every checkpoint, so a resumed job truncates and appends a member
		gz, _ = gzip.NewWriterLevel(bw, gzip.BestSpeed)
		out = gz
	}
	// the select list: the requested columns plus what ordering and
	// deduplication need
	sel := cols
	for _, name := range []string{"created_at", "id"} {
		if !hasColumn(sel, name) {
			c, _ := logevent.Lookup(name)
			sel = append(append([]logevent.Column(nil), sel...), c)
		}
	}
	idc, _ := logevent.Lookup("id")
	ca := createdAt()
	q := "SELECT " + logevent.SelectList(sel) + " FROM " + logevent.LogsTable + " WHERE " + where +
		" AND " + ca + " >= ? AND " + ca + " < ? ORDER BY " + ca + ", " + idc.Quoted()
	qctx := clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"max_block_size": s.cfg.BlockRows}))
	enc := NewEncoder(cols)
	var ev logevent.Event
	dests := ev.Dests(sel)
	buf := make([]byte, 0, 64<<10)
	lastSave := time.Now()
	for _, w := range wins {
		rows, err := s.conn.Query(qctx, q, append(append([]any(nil), args...), uint64(w.lo), uint64(w.hi))...)
		if err != nil {
			return fmt.Errorf("read logs: %w", err)
		}
		var prevAt logevent.Millis
		prevID := ""
		var n uint64
		for rows.Next() {
			ev.RequestBody, ev.ResponseBody = ev.RequestBody[:0], ev.ResponseBody[:0]
			if err := rows.Scan(dests...); err != nil {
				rows.Close()
				return fmt.Errorf("read logs: %w", err)
			}
			// logs is a ReplacingMergeTree: until merges, a log may be stored
			// more than once; the copies are adjacent in this order
			if ev.CreatedAt == prevAt && ev.ID == prevID {
				continue
			}
			prevAt, prevID = ev.CreatedAt, ev.ID
			buf = enc.Append(buf[:0], &ev)
			if _, err := out.Write(buf); err != nil {
				rows.Close()
				return fmt.Errorf("write export file: %w", err)
			}
			n++
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return fmt.Errorf("read logs: %w", err)
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if gz != nil {
			if err := gz.Close(); err != nil {
				return fmt.Errorf("write export file: %w", err)
			}
			gz.Reset(bw)
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("write export file: %w", err)
		}
		s.m.rows.Add(float64(n))
		s.m.bytes.Add(float64(cw.n - j.BytesDone))
		j.RowsDone += n
		j.BytesDone = cw.n
		j.ResumeCursor = w.hi
		if time.Since(lastSave) >= s.checkpointEvery {
			lastSave = time.Now()
			if err := s.checkpoint(ctx, j); err != nil {
				return err
			}
		}
		if s.onWindow != nil {
			s.onWindow(ctx, j, w)
		}
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if gz != nil {
		// an export with no rows still is a valid (empty) gzip file
		if err := gz.Close(); err != nil {
			return fmt.Errorf("write export file: %w", err)
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("write export file: %w", err)
		}
		j.BytesDone = cw.n
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync export file: %w", err)
	}
	if err := os.Rename(s.partPath(j), s.path(fileName(j))); err != nil {
		return fmt.Errorf("finish export file: %w", err)
	}
	j.Status, j.Owner, j.FilePath, j.FinishedAt = StatusSuccess, "", fileName(j), logevent.MillisOf(s.now())
	j.ResumeCursor = j.TimeMax + 1
	if err := s.jobs.Put(context.WithoutCancel(ctx), j); err != nil {
		return err
	}
	return nil
}

// checkpoint records j's progress unless someone else changed the job in the
// meantime (cancelled it from another process, or took it over).
func (s *Service) checkpoint(ctx context.Context, j *Job) error {
	cur, ok, err := s.jobs.Get(ctx, j.WorkspaceID, j.ID)
	if err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return err
	}
	if !ok || cur.Status != StatusInProgress {
		return errCancelledElsewhere
	}
	if cur.Owner != s.owner {
		return errTakenOver
	}
	if err := s.jobs.Put(ctx, j); err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return err
	}
	return nil
}

// errCancelledElsewhere: the job was stopped by a request another process served.
var errCancelledElsewhere = errors.New("export cancelled by a request served elsewhere")

// openPart opens j's part file: truncated to the checkpoint when resuming,
// empty otherwise (a missing or short part file restarts the job).
func (s *Service) openPart(j *Job) (*os.File, error) {
	p := s.partPath(j)
	if j.ResumeCursor > 0 && j.BytesDone > 0 {
		f, err := os.OpenFile(p, os.O_RDWR, 0o640)
		if err == nil {
			st, serr := f.Stat()
			if serr == nil && uint64(st.Size()) >= j.BytesDone {
				if err := f.Truncate(int64(j.BytesDone)); err != nil {
					f.Close()
					return nil, fmt.Errorf("resume export file: %w", err)
				}
				if _, err := f.Seek(int64(j.BytesDone), io.SeekStart); err != nil {
					f.Close()
					return nil, fmt.Errorf("resume export file: %w", err)
				}
				s.log.Info("export resumed", "job", j.ID, "rows", j.RowsDone, "bytes", j.BytesDone)
				return f, nil
			}
			f.Close()
		}
		s.log.Warn("export part file missing or short; restarting the job", "job", j.ID)
	}
	j.RowsDone, j.BytesDone, j.ResumeCursor = 0, 0, 0
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return nil, fmt.Errorf("create export file: %w", err)
	}
	return f, nil
}

func hasColumn(cols []logevent.Column, name string) bool {
	for _, c := range cols {
		if c.Name == name {
			return true
		}
	}
	return false
}
