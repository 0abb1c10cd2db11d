package e2e

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestConsoleFirstRowsBench measures, in headless Chromium, the time from
// navigation to the first rows of the Logs page (the page records it as
// data-first-rows-at, performance.now() when the rows are in the DOM). It
// runs only from scripts/bench/console.sh, which starts a query service over
// a generated workspace and sets LOGPIPE_BENCH_CONSOLE_URL and _KEY.
func TestConsoleFirstRowsBench(t *testing.T) {
	base, key := os.Getenv("LOGPIPE_BENCH_CONSOLE_URL"), os.Getenv("LOGPIPE_BENCH_CONSOLE_KEY")
	if base == "" || key == "" {
		t.Skip("benchmark: run by scripts/bench/console.sh (make bench BENCH=console)")
	}
	iter := 10
	if s := os.Getenv("LOGPIPE_BENCH_CONSOLE_ITER"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("LOGPIPE_BENCH_CONSOLE_ITER=%q", s)
		}
		iter = n
	}
	b := startBrowser(t)
	ctx := b.browser
	b.run(ctx, "open", chromedp.Navigate(base+"/"))
	b.run(ctx, "key", chromedp.Evaluate[chromedp.Void](`sessionStorage.setItem('logpipe.apiKey', `+jsString(key)+`)`))
	var ms, apiMs []float64
	for i := 0; i <= iter; i++ {
		b.run(ctx, "navigate", chromedp.Navigate(fmt.Sprintf("%s/?load=%d#/logs", base, i)))
		b.wait(ctx, "first rows", `document.querySelector('#page-logs') && document.querySelector('#page-logs').dataset.firstRowsAt && document.querySelectorAll('#log-rows tr').length > 0`,
			`document.body.innerText.slice(0, 300)`)
		var at []string
		eval(b, ctx, `[document.querySelector('#page-logs').dataset.firstRowsAt, document.querySelector('#page-logs').dataset.firstPageMs]`, &at)
		v, err1 := strconv.ParseFloat(at[0], 64)
		api, err2 := strconv.ParseFloat(at[1], 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("data-first-rows-at, data-first-page-ms: %q", at)
		}
		if i > 0 { // the first load warms caches, as a returning user's would be
			ms = append(ms, v)
			apiMs = append(apiMs, api)
		}
		time.Sleep(100 * time.Millisecond)
	}
	sort.Float64s(ms)
	sort.Float64s(apiMs)
	p := func(v []float64, q float64) float64 { return v[min(len(v)-1, int(q*float64(len(v))))] }
	fmt.Printf("console first rows: p50 %.0f ms, p99 %.0f ms over %d loads (target <= 1000 ms); of which the first GET /v1/logs: p50 %.0f ms, p99 %.0f ms\n",
		p(ms, 0.5), p(ms, 0.99), len(ms), p(apiMs, 0.5), p(apiMs, 0.99))
	b.shot(ctx, "bench-logs")
}
