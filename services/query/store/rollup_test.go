package store

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"logpipe/lib/logevent"
	"logpipe/lib/seal"
	"logpipe/lib/tenant"
	"logpipe/lib/testenv"
	"logpipe/query/filter"
)

func TestToRollupRewritesWhatTheRollupAnswers(t *testing.T) {
	for in, want := range map[string]string{
		"count()":                                   "sum(n)",
		"countIf(`is_success` = 1)":                 "sumIf(n, `is_success` = 1)",
		"sum(`cost`)":                               "sum(`cost_sum`)",
		"avg(`total_units`)":                        "(sum(`total_units_sum`) / sum(n))",
		"toFloat64(avg(`cost`))":                    "toFloat64((sum(`cost_sum`) / sum(n)))",
		"max(`created_at`)":                         "max(`last_created_at`)",
		"min(`created_at`)":                         "min(`created_at`)",
		"toString(`ai_model`)":                      "toString(`ai_model`)",
		"`ai_model` != ''":                          "`ai_model` != ''",
		"countIf(`is_success` = 0) * 100 / count()": "sumIf(n, `is_success` = 0) * 100 / sum(n)",
		"sumIf(`cost`, `cache_status` = 'HIT')":     "sumIf(`cost_sum`, `cache_status` = 'HIT')",
		"avgIf(`response_time`, `cache_status` IN ('HIT', 'SEMANTIC HIT'))":                   "(sumIf(`response_time_sum`, `cache_status` IN ('HIT', 'SEMANTIC HIT')) / sumIf(n, `cache_status` IN ('HIT', 'SEMANTIC HIT')))",
		"uniqExactIf(`response_status_code`, `is_success` = 0)":                               "uniqExactIf(`response_status_code`, `is_success` = 0)",
		"countIf(`is_success` = 1 AND (`retry_success_count` > 0 OR `fallback_option` >= 2))": "sumIf(n, `is_success` = 1 AND (`retry_success_count` > 0 OR `fallback_option` >= 2))",
		"": "",
	} {
		got, ok := toRollup(in)
		if !ok || got != want {
			t.Errorf("toRollup(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{
		"quantileExact(0.5)(`response_time`)",          // not additive
		"uniqExactIf(`user`, `user` != '')",            // not a dimension
		"sum(`response_status_code`)",                  // a dimension, not a summed column
		"countIf(`user` != '')",                        // condition on a column the rollup lacks
		"avgIf(wf, has_fb = 1)",                        // feedback columns
		"`metadata.value`[indexOf(`metadata.key`, ?)]", // arguments, metadata
		"countIf(count() > 1)",                         // nested aggregate
		"max(`cost`)",                                  // only created_at has a first/last
		"count(`id`)",                                  // count of a column
		"sum(`cost`) + any(`cost`)",                    // unknown function
		"countIf(`cache_status` = 'HIT)",               // unterminated literal
	} {
		if got, ok := toRollup(in); ok {
			t.Errorf("toRollup(%q) = %q; want it refused", in, got)
		}
	}
}

// Counts, graphs, totals, groups and breakdowns read from the hourly rollups of
// sealed days, unfiltered and filtered on the rollup's dimensions, answer what
// the same queries answer over the logs with FINAL:
// before sealing, after sealing and rolling up (over a range whose ends cut
// hours), and after a late copy lands in a rolled-up day (which is then read
// from the logs until it is rolled up again).
func TestRollupsAnswerLikeTheLogs(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	ctx := context.Background()
	st := New(conn)
	final := NewAlwaysFinal(conn)
	now := time.Now().UTC()
	models := []string{"gpt-4o", "claude-3-5-sonnet", "gemini-1.5-pro"}
	caches := []string{logevent.CacheMiss, logevent.CacheHit, logevent.CacheSemanticHit, ""}
	var evs []logevent.Event
	for i := 0; i < 600; i++ { // about five days, the last of them today
		e := event("wsa", now.Add(-time.Duration(i)*11*time.Minute), i)
		e.AIModel = models[i%3]
		e.CacheStatus = caches[i%4]
		e.ResponseTime = uint32(100 + i%4*25) // repeated within an hour: histogram counts above 1
		e.ReqUnits, e.ResUnits = uint32(i%40), uint32(i%60)
		if i%9 == 0 {
			e.IsSuccess, e.ResponseStatusCode = 0, []uint16{500, 429, 502}[i%3]
		}
		e.RetrySuccessCount = uint16(i % 3 % 2)
		e.MetadataKey, e.MetadataValue = []string{"env", "team"}, []string{[]string{"prod", "staging", "dev"}[i%3], fmt.Sprintf("team-%d", i%5)}
		evs = append(evs, e)
	}
	other := event("wsb", now.Add(-30*time.Hour), 1) // another tenant, same day
	insert(t, conn, append(evs, other))
	insert(t, conn, evs[:250]) // copies in a second part of every day
	sc := NewScope(principal("wsa", tenant.PlanProduction), now)
	rng := filter.Filter{Min: logevent.MillisOf(now.Add(-100 * time.Hour)), Max: logevent.MillisOf(now)} // ends cut hours

	byModel, err := filter.FromQuery(url.Values{"ai_model": {"claude-3-5-sonnet,gpt-4o"}})
	if err != nil {
		t.Fatal(err)
	}
	byStatus, err := filter.FromQuery(url.Values{"status_code": {"500,429"}, "cache_status": {logevent.CacheHit}})
	if err != nil {
		t.Fatal(err)
	}
	byMeta, err := filter.FromQuery(url.Values{"metadata": {`{"env":"staging"}`}})
	if err != nil {
		t.Fatal(err)
	}
	exprs := []string{"count()", "countIf(`is_success` = 0)", "sum(`cost`)", "avg(`cost`)", "sum(`total_units`)",
		"avg(`total_units`)", "sum(`req_units`)", "avgIf(`response_time`, `cache_status` IN ('HIT', 'SEMANTIC HIT'))",
		"countIf(`is_success` = 0) * 100 / count()", "uniqExactIf(`response_status_code`, `is_success` = 0)",
		"sumIf(`cost`, `cache_status` = 'HIT')", "countIf(`is_success` = 1 AND `retry_success_count` > 0)", "max(`created_at`)", "min(`created_at`)"}
	lat := Quantiles("`response_time`", "0.5", "0.9", "0.99")
	latency := []string{"count()", "avg(`response_time`)", lat + "[1]", lat + "[2]", lat + "[3]"} // the latency histograms answer these
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }
	check := func(when string) {
		t.Helper()
		for _, f := range []filter.Filter{{}, rng, byModel, byStatus, byMeta} {
			n, err := st.Count(ctx, sc, f)
			if err != nil {
				t.Fatal(err)
			}
			if wn, err := final.Count(ctx, sc, f); err != nil || n != wn {
				t.Errorf("%s: count %d; want %d (%v)", when, n, wn, err)
			}
			for _, unit := range []Unit{Hour, Day} {
				for _, exprs := range [][]string{exprs, latency} {
					pts, tot, err := st.Series(ctx, sc, f, SrcLogs, unit, exprs)
					if err != nil {
						t.Fatal(err)
					}
					wpts, wtot, err := final.Series(ctx, sc, f, SrcLogs, unit, exprs)
					if err != nil {
						t.Fatal(err)
					}
					if len(pts) != len(wpts) {
						t.Fatalf("%s: %d buckets; want %d", when, len(pts), len(wpts))
					}
					for i := range pts {
						for j := range exprs {
							if pts[i].Bucket != wpts[i].Bucket || !near(pts[i].Values[j], wpts[i].Values[j]) {
								t.Errorf("%s: unit %v bucket %d %s = %v; want %v", when, unit, wpts[i].Bucket, exprs[j], pts[i].Values[j], wpts[i].Values[j])
							}
						}
					}
					for j := range exprs {
						if !near(tot[j], wtot[j]) {
							t.Errorf("%s: total %s = %v; want %v", when, exprs[j], tot[j], wtot[j])
						}
					}
				}
			}
			tot, err := st.Totals(ctx, sc, f, SrcLogs, latency)
			if err != nil {
				t.Fatal(err)
			}
			wtot, err := final.Totals(ctx, sc, f, SrcLogs, latency)
			if err != nil {
				t.Fatal(err)
			}
			for j := range latency {
				if !near(tot[j], wtot[j]) {
					t.Errorf("%s: totals %s = %v; want %v", when, latency[j], tot[j], wtot[j])
				}
			}
			gs, n, err := st.Groups(ctx, sc, f, SrcLogs, "toString(`ai_model`)", nil, "", []string{"count()", "sum(`cost`)", "max(`created_at`)"}, 0, false, 10, 0)
			if err != nil {
				t.Fatal(err)
			}
			wgs, wn, err := final.Groups(ctx, sc, f, SrcLogs, "toString(`ai_model`)", nil, "", []string{"count()", "sum(`cost`)", "max(`created_at`)"}, 0, false, 10, 0)
			if err != nil {
				t.Fatal(err)
			}
			if n != wn || fmt.Sprint(gs) != fmt.Sprint(wgs) {
				t.Errorf("%s: groups %v (%d); want %v (%d)", when, gs, n, wgs, wn)
			}
			br, err := st.Breakdown(ctx, sc, f, SrcLogs, Day, "`response_status_code`", "`is_success` = 0", "count()")
			if err != nil {
				t.Fatal(err)
			}
			wbr, err := final.Breakdown(ctx, sc, f, SrcLogs, Day, "`response_status_code`", "`is_success` = 0", "count()")
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(br) != fmt.Sprint(wbr) {
				t.Errorf("%s: breakdown %v; want %v", when, br, wbr)
			}
		}
	}
	rolled := func() bool {
		t.Helper()
		time.Sleep(seal.MaxAge)
		ok := true
		for _, f := range []filter.Filter{rng, byModel, byStatus} {
			_, _, _, yes, err := st.rollupSource(ctx, sc, f, []string{"count()"})
			if err != nil {
				t.Fatal(err)
			}
			ok = ok && yes
		}
		_, _, yes, err := st.metadataCountSource(ctx, sc, byMeta)
		if err != nil {
			t.Fatal(err)
		}
		ok = ok && yes
		_, _, _, yes, err = st.latencySource(ctx, sc, rng, "", latency)
		if err != nil {
			t.Fatal(err)
		}
		ok = ok && yes
		if bySearch, err := filter.FromQuery(url.Values{"search": {"x"}}); err != nil {
			t.Fatal(err)
		} else if _, _, _, yes, err := st.rollupSource(ctx, sc, bySearch, []string{"count()"}); err != nil || yes {
			t.Fatalf("rollups answer a body search (%v)", err)
		}
		return ok
	}
	check("before sealing")
	if rolled() {
		t.Error("rollups answer before any partition was rolled up")
	}
	job := seal.NewJob(conn, logevent.LogsTable, time.Hour, testenv.Logger(), prometheus.NewRegistry())
	if _, err := job.Once(ctx); err != nil {
		t.Fatal(err)
	}
	if !rolled() {
		t.Fatal("rollups do not answer after sealing and rolling up")
	}
	var rows uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+seal.HourlyTable(logevent.LogsTable)).Scan(&rows); err != nil || rows == 0 {
		t.Fatalf("rollup rows: %d, %v", rows, err)
	}
	check("after rolling up")
	// A rollup cut short by a crash leaves rows under a tag nobody recorded;
	// copies of every rollup row under their part's bare name stand for them.
	for _, tbl := range []string{seal.HourlyTable(logevent.LogsTable), seal.HourlyMetadataTable(logevent.LogsTable), seal.HourlyLatencyTable(logevent.LogsTable)} {
		var cols []string
		rows, err := conn.Query(ctx, "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = ?", tbl)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var c string
			if err := rows.Scan(&c); err != nil {
				t.Fatal(err)
			}
			cols = append(cols, c)
		}
		rows.Close()
		sel := strings.ReplaceAll(strings.Join(cols, ", "), "src_part", "splitByChar('/', src_part)[1]")
		if err := conn.Exec(ctx, "INSERT INTO "+tbl+" ("+strings.Join(cols, ", ")+") SELECT "+sel+" FROM "+tbl); err != nil {
			t.Fatal(err)
		}
	}
	check("after a rollup cut short")
	insert(t, conn, evs[len(evs)-40:]) // late copies into rolled-up days
	time.Sleep(seal.MaxAge)
	check("after late copies")
	if _, err := job.Once(ctx); err != nil { // sealed and rolled up again
		t.Fatal(err)
	}
	time.Sleep(seal.MaxAge)
	check("after rolling up again")
}

// wholeDays splits hour ranges into the whole UTC days they hold and the
// hours left over on either side.
func TestWholeDays(t *testing.T) {
	const h, d = 3600 * 1000, 24 * 3600 * 1000
	days, hours := wholeDays([][2]int64{{10*d + 5*h, 13*d + 2*h}, {20*d + h, 20*d + 9*h}, {30 * d, 31 * d}})
	if want := [][2]int64{{11 * d, 13 * d}, {30 * d, 31 * d}}; fmt.Sprint(days) != fmt.Sprint(want) {
		t.Errorf("days %v; want %v", days, want)
	}
	if want := [][2]int64{{10*d + 5*h, 11 * d}, {13 * d, 13*d + 2*h}, {20*d + h, 20*d + 9*h}}; fmt.Sprint(hours) != fmt.Sprint(want) {
		t.Errorf("hours %v; want %v", hours, want)
	}
}
