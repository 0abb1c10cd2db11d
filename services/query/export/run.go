package export

import (
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
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

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

// partPath is where this process writes j before it is complete: a name of
// its own, so a process that lost the job (its lease ran out while it was
// stalled) never writes into the file of the process that took it over.
func (s *Service) partPath(j *Job) string { return s.path(fileName(j) + "." + s.owner + ".part") }

// releasedPath holds the part file of a job released by a process that
// stopped gracefully, for whichever process resumes it.
func (s *Service) releasedPath(j *Job) string { return s.path(fileName(j) + ".part") }

// window is a created_at range [lo, hi) of an export, in ms, with the
// planned number of rows and estimated bytes.
type window struct {
	lo, hi      logevent.Millis
	rows, bytes uint64
}

// where builds the WHERE of j's logs over the logs table (tenant scope and
// filters; the caller adds the time window). Reads in (created_at, id) order
// need no FINAL: copies of a log share the whole sorting key, so they are
// adjacent and write drops repeats (the store's keyset-read rule).
func (s *Service) where(j *Job) (string, []any, error) {
	f, err := filter.FromJSON(json.RawMessage(j.Filters))
	if err != nil {
		return "", nil, fmt.Errorf("filters: %w", err)
	}
	sc, err := scope(j, s.now())
	if err != nil {
		return "", nil, err
	}
	w, args := sc.Where()
	fw, fargs := f.Where(sc.Tenant())
	return w + " AND " + fw, append(args, fargs...), nil
}

// windows splits j's remaining range (from its resume cursor) into
// contiguous windows of about WindowRows logs or WindowBytes bytes, from a
// histogram of created_at.
func (s *Service) windows(ctx context.Context, j *Job, where string, args []any) ([]window, error) {
	lo := j.TimeMin
	if j.ResumeCursor > lo {
		lo = j.ResumeCursor
	}
	hi := j.TimeMax + 1 // TimeMax is inclusive
	if lo >= hi {
		return nil, nil
	}
	ca := createdAt()
	// buckets over the span the logs actually cover, so that windows can be
	// cut finely however wide the requested range
	var first, last uint64
	err := s.conn.QueryRow(ctx, "SELECT min("+ca+"), max("+ca+") FROM "+logevent.LogsTable+" WHERE "+where+
		" AND "+ca+" >= ? AND "+ca+" < ?", append(args, uint64(lo), uint64(hi))...).Scan(&first, &last)
	if err != nil {
		return nil, fmt.Errorf("plan export windows: %w", err)
	}
	bucket := int64(last-first)/20_000 + 1
	perRow := s.rowBytes(ctx)
	q := "SELECT intDiv(" + ca + ", ?) AS b, count() FROM " + logevent.LogsTable +
		" WHERE " + where + " AND " + ca + " >= ? AND " + ca + " < ? GROUP BY b ORDER BY b"
	rows, err := s.conn.Query(ctx, q, append([]any{uint64(bucket)}, append(args, uint64(lo), uint64(hi))...)...)
	if err != nil {
		return nil, fmt.Errorf("plan export windows: %w", err)
	}
	defer rows.Close()
	var out []window
	cur := window{lo: lo}
	for rows.Next() {
		var b, c uint64
		if err := rows.Scan(&b, &c); err != nil {
			return nil, fmt.Errorf("plan export windows: %w", err)
		}
		end := logevent.Millis((int64(b) + 1) * bucket)
		if end > hi {
			end = hi
		}
		cur.hi, cur.rows, cur.bytes = end, cur.rows+c, cur.bytes+perRow*c
		if cur.rows >= uint64(s.cfg.WindowRows) || cur.bytes >= uint64(s.cfg.WindowBytes) {
			out = append(out, cur)
			cur = window{lo: end}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("plan export windows: %w", err)
	}
	if cur.rows > 0 || len(out) == 0 {
		cur.hi = hi
		out = append(out, cur)
	} else {
		out[len(out)-1].hi = hi
	}
	return out, nil
}

// defaultRowBytes is the size of a log assumed when the table cannot tell.
const defaultRowBytes = 2048

// rowBytes estimates the bytes of one log from the logs table's uncompressed
// size (reading payload lengths would cost as much as reading the payloads).
// A window that turns out bigger is ordered by ClickHouse instead (write).
func (s *Service) rowBytes(ctx context.Context) uint64 {
	var bytes, rows uint64
	err := s.conn.QueryRow(ctx, "SELECT sum(data_uncompressed_bytes) FROM system.columns WHERE database = currentDatabase() AND table = ?",
		logevent.LogsTable).Scan(&bytes)
	if err == nil {
		err = s.conn.QueryRow(ctx, "SELECT sum(rows) FROM system.parts WHERE database = currentDatabase() AND table = ? AND active",
			logevent.LogsTable).Scan(&rows)
	}
	if err != nil || rows == 0 || bytes == 0 {
		return defaultRowBytes
	}
	return bytes/rows + 1
}

func createdAt() string { c, _ := logevent.Lookup("created_at"); return c.Quoted() }

// execute runs j to its end (success, failed, stopped) or until it is
// interrupted (shutdown: the job is released for resumption; taken over:
// left alone).
func (s *Service) execute(ctx context.Context, j Job) {
	err := s.writeRecovered(ctx, &j)
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
		if rerr := os.Rename(s.partPath(&j), s.releasedPath(&j)); rerr != nil {
			j.RowsDone, j.BytesDone, j.ResumeCursor = 0, 0, 0 // nothing to resume from
		}
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

// writeRecovered is write with a panic turned into the job's failure: one
// export never takes the process down.
func (s *Service) writeRecovered(ctx context.Context, j *Job) (err error) {
	defer s.panics.Recover("export", func(perr error) { err = perr })
	return s.write(ctx, j)
}

// openWindow is a window whose query has been sent.
type openWindow struct {
	w       window
	rows    driver.Rows
	err     error
	ordered bool // by ClickHouse
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
	bw := newAsyncWriter(cw, 1<<20, 2)
	defer bw.Close()
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
	scan := newScanner(sel)
	enc := NewEncoder(cols)
	ev := &scan.ev
	// a window is read unordered and ordered here (ClickHouse 18.16 would
	// sort every payload byte; this process sorts line offsets), unless it
	// is too big to hold, when ClickHouse orders it
	q := "SELECT " + scan.selectList() + " FROM " + logevent.LogsTable + " WHERE " + where +
		" AND " + ca + " >= ? AND " + ca + " < ?"
	ordered := q + " ORDER BY " + ca + ", " + idc.Quoted()
	inMemory := func(w window) bool { return w.bytes <= 4*uint64(s.cfg.WindowBytes) }
	var lw lineWindow
	// read writes one window's rows, as they come when ClickHouse ordered
	// them, else ordered here at the end; overflow reports an unordered
	// window too big to hold (nothing written)
	read := func(rows driver.Rows, chOrdered bool) (overflow bool, err error) {
		defer rows.Close()
		lw.reset()
		for rows.Next() {
			if err := rows.Scan(scan.dests...); err != nil {
				return false, fmt.Errorf("read logs: %w", err)
			}
			scan.fill()
			lw.add(enc, ev)
			if chOrdered {
				if err := lw.writeTo(out, false); err != nil {
					return false, fmt.Errorf("write export file: %w", err)
				}
			} else if len(lw.arena) > 4*s.cfg.WindowBytes {
				lw.reset()
				return true, nil
			}
		}
		if err := rows.Err(); err != nil {
			return false, fmt.Errorf("read logs: %w", err)
		}
		if err := lw.writeTo(out, !chOrdered); err != nil {
			return false, fmt.Errorf("write export file: %w", err)
		}
		if chOrdered {
			s.m.windows.WithLabelValues("clickhouse").Inc()
		} else {
			s.m.windows.WithLabelValues("memory").Inc()
		}
		return false, nil
	}
	qctx := clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"max_block_size": s.cfg.BlockRows}))
	lastSave := time.Now()
	// the next window's query runs in ClickHouse (reading and sorting)
	// while this one is written: one window ahead, no more
	pctx, stopPrefetch := context.WithCancel(qctx)
	defer stopPrefetch()
	next := make(chan openWindow)
	go func() {
		defer close(next)
		defer s.panics.Recover("export prefetch", func(err error) {
			select {
			case next <- openWindow{err: err}:
			case <-pctx.Done():
			}
		})
		for _, w := range wins {
			sql := ordered
			if inMemory(w) {
				sql = q
			}
			rows, err := s.conn.Query(pctx, sql, append(append([]any(nil), args...), uint64(w.lo), uint64(w.hi))...)
			if err != nil {
				// the driver may answer a failed query with a non-nil
				// Rows interface holding a nil pointer (a query cancelled
				// in flight): never let that reach a Close
				rows = nil
			}
			select {
			case next <- openWindow{w: w, rows: rows, err: err, ordered: !inMemory(w)}:
			case <-pctx.Done():
				if rows != nil {
					rows.Close()
				}
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() {
		stopPrefetch()
		for o := range next {
			if o.rows != nil {
				o.rows.Close()
			}
		}
	}()
	for o := range next {
		w, rows, err := o.w, o.rows, o.err
		if err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return fmt.Errorf("read logs: %w", err)
		}
		overflow, err := read(rows, o.ordered)
		if err == nil && overflow {
			// more bytes than planned: let ClickHouse order this window
			rows, err = s.conn.Query(qctx, ordered, append(append([]any(nil), args...), uint64(w.lo), uint64(w.hi))...)
			if err == nil {
				_, err = read(rows, true)
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return err
		}
		n := lw.count
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
		startWriteback(f, int64(j.BytesDone), int64(cw.n-j.BytesDone))
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
	cur, ok, err := s.jobs.Get(ctx, j.Tenant(), j.ID)
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

// openPart opens j's part file: a released part file truncated to the
// checkpoint when resuming, an empty one otherwise. A job taken over from a
// process that went silent restarts from the beginning: that process may
// still be writing its own file.
func (s *Service) openPart(j *Job) (*os.File, error) {
	p := s.partPath(j)
	if j.ResumeCursor > 0 && j.BytesDone > 0 {
		f, err := os.OpenFile(p, os.O_RDWR, 0o640)
		if errors.Is(err, os.ErrNotExist) && os.Rename(s.releasedPath(j), p) == nil {
			f, err = os.OpenFile(p, os.O_RDWR, 0o640)
		}
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
		s.log.Warn("export has no part file to resume from; restarting it", "job", j.ID)
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
