package charttest

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// promQuery and promResult mirror the promql command's input and output
// (charts/test/promql, a module of its own outside the workspace).
type promQuery struct {
	Where string `json:"where"`
	Expr  string `json:"expr"`
}

type promResult struct {
	Where     string `json:"where"`
	Error     string `json:"error"`
	Selectors []struct {
		Metric   string `json:"metric"`
		Matchers []struct {
			Label string `json:"label"`
			Type  string `json:"type"`
			Value string `json:"value"`
		} `json:"matchers"`
	} `json:"selectors"`
	Groupings []struct {
		Labels  []string `json:"labels"`
		Metrics []string `json:"metrics"`
	} `json:"groupings"`
}

// grafanaVars stand for the dashboard's variables when its queries are
// parsed as plain PromQL.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "${namespace}", ".*", "$namespace", ".*")

// alertAndPanelQueries returns the PromQL of every alert and dashboard panel
// target (templating queries are Grafana functions, not PromQL).
func alertAndPanelQueries(t *testing.T) []promQuery {
	t.Helper()
	var qs []promQuery
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			qs = append(qs, promQuery{Where: "alert " + r.Alert, Expr: r.Expr})
		}
	}
	_, queries := dashboardQueries(t)
	for where, q := range queries {
		if strings.Contains(where, "templating") {
			continue
		}
		qs = append(qs, promQuery{Where: "dashboard " + where, Expr: grafanaVars.Replace(q)})
	}
	return qs
}

// parsePromQL parses queries with Prometheus's own parser.
func parsePromQL(t *testing.T, qs []promQuery) []promResult {
	t.Helper()
	in, err := json.Marshal(qs)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "run", ".")
	cmd.Dir = filepath.Join(repoRoot(t), "charts", "test", "promql")
	cmd.Env = append(os.Environ(), "GOWORK=off")
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go run charts/test/promql: %v\n%s", err, stderr.String())
	}
	var out []promResult
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("promql output: %v\n%s", err, stdout.String())
	}
	if len(out) != len(qs) {
		t.Fatalf("promql answered %d results for %d queries", len(out), len(qs))
	}
	return out
}

// TestPromQLParses: every alert expression and dashboard query is valid
// PromQL, and selects by the namespace where the dashboard offers it.
func TestPromQLParses(t *testing.T) {
	qs := alertAndPanelQueries(t)
	for i, r := range parsePromQL(t, qs) {
		if r.Error != "" {
			t.Errorf("%s: %s\n%s", r.Where, r.Error, qs[i].Expr)
			continue
		}
		if len(r.Selectors) == 0 {
			t.Errorf("%s selects no series: %s", r.Where, qs[i].Expr)
		}
		if !strings.HasPrefix(r.Where, "dashboard") {
			continue
		}
		for _, s := range r.Selectors {
			ok := false
			for _, m := range s.Matchers {
				ok = ok || m.Label == "namespace"
			}
			if !ok {
				t.Errorf("%s: %s ignores the $namespace variable", r.Where, s.Metric)
			}
		}
	}
}

func TestLabelNames(t *testing.T) {
	for in, want := range map[string]string{
		`a="x",b="y"} 1`:                 "a b",
		`route="/v1/logs",code="200"} 3`: "route code",
		`q="a\"b,c=d",le="+Inf"} 0`:      "q le",
		`} 1`:                            "",
	} {
		if got := strings.Join(labelNames(in), " "); got != want {
			t.Errorf("labelNames(%q) = %q; want %q", in, got, want)
		}
	}
}
