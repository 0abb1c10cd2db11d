package seal

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Hourly rollups. Once a partition is sealed (one part, no duplicates), Job
// writes per tenant, UTC hour and combination of RollupDims the number of its
// logs and the sums of RollupSums into <table>_hourly, per hour and metadata
// pair the number of logs holding it into <table>_hourly_metadata, and per
// hour and response_time value the number of logs with it (a latency
// histogram) into <table>_hourly_latency, and the same per day into
// <table>_daily_latency. Every row of one rollup of a part carries that
// rollup's tag (the part's name and a random suffix); once all four tables
// hold their rows, the job records the part and the tag in
// <table>_hourly_rollups. A Snapshot knows which days are rolled up: every
// partition of the day has one active part and that part is recorded, and it
// hands readers the recorded tags. Rows of a rollup cut short by a crash carry
// a tag nobody recorded, so they are never read and a rerun cannot double
// them. Readers take rolled-up days' hours from the rollups and everything
// else from the table itself; a late write into a rolled-up day adds a part,
// so the day is read from the table again (exactly, with FINAL) until the job
// seals and rolls it up anew. Rows of parts that are no longer active stay
// behind, unread, until retention drops their partition.

// RollupDims are the columns of the table a rollup row is grouped by, besides
// the tenant and the hour; the rollup has them under the same names and types.
var RollupDims = []string{"ai_org", "ai_model", "response_status_code", "is_success", "cache_status", "retry_success_count", "fallback_option"}

// RollupSums are the columns whose sums a rollup row holds, each in column
// SumColumn(name); the number of logs is in column n.
var RollupSums = []string{"cost", "req_units", "res_units", "total_units", "reasoning_units", "response_time"}

// SumColumn is the rollup column holding the sum of column name.
func SumColumn(name string) string { return name + "_sum" }

// HourlyMetadataTable is the metadata rollup of table: per tenant, hour and
// metadata pair (meta_key, meta_value), the number of logs holding it (n).
func HourlyMetadataTable(table string) string { return table + "_hourly_metadata" }

// HourlyTable is the rollup table of table.
func HourlyTable(table string) string { return table + "_hourly" }

// HourlyLatencyTable is the latency histogram of table: per tenant, hour and
// response_time value, the number of logs with it (n).
func HourlyLatencyTable(table string) string { return table + "_hourly_latency" }

// DailyLatencyTable is the daily latency histogram of table: per tenant, UTC
// day and response_time value, the number of logs with it (n).
func DailyLatencyTable(table string) string { return table + "_daily_latency" }

// HourlyRollupsTable records the complete rollups of table's parts: the part
// and the tag its rollup rows carry.
func HourlyRollupsTable(table string) string { return table + "_hourly_rollups" }

// HourlyTables are every table the rollups of table keep, partitioned like
// table (the retention job drops their partitions with its own). They include
// <table>_hourly_parts, where rollups made before histograms were recorded.
func HourlyTables(table string) []string {
	return []string{HourlyTable(table), HourlyMetadataTable(table), HourlyLatencyTable(table), DailyLatencyTable(table),
		table + "_hourly_parts", HourlyRollupsTable(table)}
}

const hourMillis = 60 * 60 * 1000

// rolledParts returns the parts of table whose rollups are complete, each
// with the tag of its rollup rows (of two complete rollups of a part, written
// by two jobs at once, the smaller tag).
func rolledParts(ctx context.Context, conn driver.Conn, table string) (map[string]string, error) {
	rows, err := conn.Query(ctx, "SELECT part, min(tag) FROM "+HourlyRollupsTable(table)+" GROUP BY part")
	if err != nil {
		return nil, fmt.Errorf("list rolled-up parts of %s: %w", table, err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var p, tag string
		if err := rows.Scan(&p, &tag); err != nil {
			return nil, fmt.Errorf("list rolled-up parts of %s: %w", table, err)
		}
		out[p] = tag
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list rolled-up parts of %s: %w", table, err)
	}
	return out, nil
}

// tierOf parses the retention tier of a partition id "<tier>-<YYYYMMDD>".
func tierOf(id string) (uint16, error) {
	t, _, _ := strings.Cut(id, "-")
	n, err := strconv.ParseUint(t, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("partition id %q: want <retention_days>-<YYYYMMDD>", id)
	}
	return uint16(n), nil
}

// rollUp writes the rollups of every single-part partition of a finished day
// that has none yet and returns how many it wrote.
func (j *Job) rollUp(ctx context.Context) (int, error) {
	ps, err := readPartitions(ctx, j.conn, j.table)
	if err != nil {
		return 0, err
	}
	cut := j.now().Add(-j.grace).UnixMilli()
	var sealed []partition
	for _, p := range ps {
		if p.parts == 1 && p.day+dayMillis <= cut {
			sealed = append(sealed, p)
		}
	}
	if len(sealed) == 0 { // (a Distributed table has no parts: nothing to roll up)
		return 0, nil
	}
	done, err := rolledParts(ctx, j.conn, j.table)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range sealed {
		if _, ok := done[p.part]; ok {
			continue
		}
		if err := j.rollUpPart(ctx, p); err != nil {
			return n, err
		}
		j.rolled.Inc()
		n++
	}
	return n, nil
}

// rollUpPart writes the rollup rows of partition p's only part under a new
// tag, then records the part and the tag. If the part was merged away
// meanwhile, it selects nothing and the record names a part no reader will
// find active.
func (j *Job) rollUpPart(ctx context.Context, p partition) error {
	tier, err := tierOf(p.id)
	if err != nil {
		return err
	}
	tag := fmt.Sprintf("%s/%016x", p.part, rand.Uint64())
	cols := []string{"organisation_id", "workspace_id", "retention_days", "src_part", "created_at", "last_created_at"}
	sel := []string{"organisation_id", "workspace_id", "retention_days", "?", "min(created_at)", "max(created_at)"}
	group := []string{"organisation_id", "workspace_id", "retention_days", fmt.Sprintf("intDiv(created_at, %d)", hourMillis)}
	for _, d := range RollupDims {
		cols, sel, group = append(cols, d), append(sel, d), append(group, d)
	}
	cols, sel = append(cols, "n"), append(sel, "count()")
	for _, m := range RollupSums {
		cols, sel = append(cols, SumColumn(m)), append(sel, "sum("+m+")")
	}
	q := "INSERT INTO " + HourlyTable(j.table) + " (" + strings.Join(cols, ", ") + ") SELECT " + strings.Join(sel, ", ") +
		" FROM " + j.table + " WHERE retention_days = ? AND created_at >= ? AND created_at < ? AND _part = ? GROUP BY " + strings.Join(group, ", ")
	if err := j.conn.Exec(ctx, q, tag, tier, uint64(p.day), uint64(p.day+dayMillis), p.part); err != nil {
		return fmt.Errorf("roll up part %s of %s: %w", p.part, j.table, err)
	}
	// Metadata is an object: a log holds each key once, so counting the
	// (key, value) entries counts the logs holding each pair.
	q = "INSERT INTO " + HourlyMetadataTable(j.table) + " (organisation_id, workspace_id, retention_days, src_part, created_at, meta_key, meta_value, n)" +
		" SELECT organisation_id, workspace_id, retention_days, ?, min(created_at), k, v, count() FROM " + j.table +
		" ARRAY JOIN `metadata.key` AS k, `metadata.value` AS v WHERE retention_days = ? AND created_at >= ? AND created_at < ? AND _part = ?" +
		fmt.Sprintf(" GROUP BY organisation_id, workspace_id, retention_days, intDiv(created_at, %d), k, v", hourMillis)
	if err := j.conn.Exec(ctx, q, tag, tier, uint64(p.day), uint64(p.day+dayMillis), p.part); err != nil {
		return fmt.Errorf("roll up the metadata of part %s of %s: %w", p.part, j.table, err)
	}
	// The latency histograms, per hour and per day (a partition is one day).
	for _, h := range []struct{ table, by string }{
		{HourlyLatencyTable(j.table), fmt.Sprintf(", intDiv(created_at, %d)", hourMillis)},
		{DailyLatencyTable(j.table), ""},
	} {
		q = "INSERT INTO " + h.table + " (organisation_id, workspace_id, retention_days, src_part, created_at, response_time, n)" +
			" SELECT organisation_id, workspace_id, retention_days, ?, min(created_at), response_time, count() FROM " + j.table +
			" WHERE retention_days = ? AND created_at >= ? AND created_at < ? AND _part = ?" +
			" GROUP BY organisation_id, workspace_id, retention_days" + h.by + ", response_time"
		if err := j.conn.Exec(ctx, q, tag, tier, uint64(p.day), uint64(p.day+dayMillis), p.part); err != nil {
			return fmt.Errorf("roll up the latencies of part %s of %s into %s: %w", p.part, j.table, h.table, err)
		}
	}
	b, err := j.conn.PrepareBatch(ctx, "INSERT INTO "+HourlyRollupsTable(j.table)+" (retention_days, created_at, partition_id, part, tag, rolled_at)")
	if err != nil {
		return fmt.Errorf("record rollup of part %s of %s: %w", p.part, j.table, err)
	}
	if err := b.Append(tier, uint64(p.day), p.id, p.part, tag, time.Now()); err != nil {
		_ = b.Abort()
		return fmt.Errorf("record rollup of part %s of %s: %w", p.part, j.table, err)
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("record rollup of part %s of %s: %w", p.part, j.table, err)
	}
	return nil
}

// Rollups splits [lo, hi) (epoch ms, hi exclusive; 0 means up to now) into
// the whole UTC hours of rolled-up days, merged where adjacent, and returns
// them with the tags of the rollup rows that cover them. Days without any
// partition after the first day with one count as rolled up (there is nothing
// to count); without any partition at all nothing is; the day holding now
// never is.
func (s Snapshot) Rollups(lo, hi, now int64) (hours [][2]int64, tags []string) {
	first := int64(-1)
	for d := range s.days {
		if first < 0 || d < first {
			first = d
		}
	}
	if first < 0 { // no partition at all: nothing is rolled up (a Distributed table has no parts)
		return nil, nil
	}
	today := now - now%dayMillis
	end := today
	if hi > 0 && hi < end {
		end = hi
	}
	for d := max(lo-lo%dayMillis, first); d < end; d += dayMillis {
		names, ok := s.rolled[d]
		if !ok && s.days[d] {
			continue
		}
		from := max(d, lo)
		from += (hourMillis - from%hourMillis) % hourMillis
		to := min(d+dayMillis, end)
		to -= to % hourMillis
		if from >= to {
			continue
		}
		tags = append(tags, names...)
		if n := len(hours); n > 0 && hours[n-1][1] == from {
			hours[n-1][1] = to
		} else {
			hours = append(hours, [2]int64{from, to})
		}
	}
	return hours, tags
}
