package charttest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// rulesFile is a Prometheus rule file (files/prometheus-rules.yaml).
type rulesFile struct {
	Groups []ruleGroup `json:"groups"`
}

type ruleGroup struct {
	Name     string `json:"name"`
	Interval string `json:"interval,omitempty"`
	Rules    []rule `json:"rules"`
}

type rule struct {
	Alert       string            `json:"alert,omitempty"`
	Record      string            `json:"record,omitempty"`
	Expr        string            `json:"expr"`
	For         string            `json:"for,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

func loadRules(t *testing.T) rulesFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(chartDir(t), "files", "prometheus-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var f rulesFile
	if err := yaml.UnmarshalStrict(b, &f); err != nil {
		t.Fatalf("files/prometheus-rules.yaml: %v", err)
	}
	return f
}

// dashboardQueries returns every PromQL expression of the Grafana dashboard
// (panel targets and templating queries), keyed by where it is.
func dashboardQueries(t *testing.T) (map[string]any, map[string]string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(chartDir(t), "files", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("files/grafana-dashboard.json: %v", err)
	}
	out := map[string]string{}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if s, ok := c.(string); ok && (k == "expr" || (k == "query" && strings.Contains(path, "templating"))) {
					out[path+"."+k] = s
				}
				walk(path+"."+k, c)
			}
		case []any:
			for i, c := range x {
				title := ""
				if m, ok := c.(map[string]any); ok {
					title, _ = m["title"].(string)
				}
				walk(path+"["+strings.TrimSpace(title+" "+strconv.Itoa(i))+"]", c)
			}
		}
	}
	walk("", d)
	return d, out
}

var metricName = regexp.MustCompile(`\blogpipe_[a-z0-9_]+\b`)

// namedMetrics returns every logpipe_ metric named by the alert rules and the
// dashboard, each with one place that names it.
func namedMetrics(t *testing.T) map[string]string {
	t.Helper()
	names := map[string]string{}
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			for _, m := range metricName.FindAllString(r.Expr, -1) {
				names[m] = "alert " + r.Alert
			}
		}
	}
	_, queries := dashboardQueries(t)
	for where, q := range queries {
		for _, m := range metricName.FindAllString(q, -1) {
			names[m] = "dashboard " + where
		}
	}
	return names
}

// TestAlertRules checks the shipped alert rules: the alerts the issue asks
// for are there, each is well-formed, and metric names follow
// logpipe_<service>_<what>_<unit>.
func TestAlertRules(t *testing.T) {
	f := loadRules(t)
	seen := map[string]bool{}
	for _, g := range f.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			t.Errorf("rule group %q is unnamed or empty", g.Name)
		}
		for _, r := range g.Rules {
			if r.Alert == "" {
				t.Errorf("group %s: a rule without an alert name (%q)", g.Name, r.Expr)
				continue
			}
			if seen[r.Alert] {
				t.Errorf("alert %s defined twice", r.Alert)
			}
			seen[r.Alert] = true
			if !slices.Contains([]string{"warning", "critical"}, r.Labels["severity"]) {
				t.Errorf("alert %s: severity %q; want warning or critical", r.Alert, r.Labels["severity"])
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s: summary and description annotations are required", r.Alert)
			}
			if r.For == "" {
				t.Errorf("alert %s fires on a single evaluation: set for", r.Alert)
			}
			if len(metricName.FindAllString(r.Expr, -1)) == 0 {
				t.Errorf("alert %s names no logpipe metric: %s", r.Alert, r.Expr)
			}
			if strings.Count(r.Expr, "(") != strings.Count(r.Expr, ")") {
				t.Errorf("alert %s: unbalanced parentheses in %s", r.Alert, r.Expr)
			}
		}
	}
	for _, want := range []string{
		"LogpipeConsumerLagGrowing", "LogpipeDeadLetters", "LogpipeIngestServerErrors",
		"LogpipeIngestKafkaUnavailable", "LogpipeExportFailures", "LogpipeClickHouseInsertErrors",
	} {
		if !seen[want] {
			t.Errorf("alert %s is missing", want)
		}
	}
	checkNames(t, namedMetrics(t))
}

func checkNames(t *testing.T, names map[string]string) {
	t.Helper()
	for m, where := range names {
		parts := strings.SplitN(m, "_", 3)
		if len(parts) < 3 || !slices.Contains([]string{"ingest", "consumer", "query"}, parts[1]) {
			t.Errorf("%s (%s) is not named logpipe_<service>_<what>_<unit>", m, where)
		}
	}
}

// TestDashboard checks the Grafana dashboard: valid JSON with unique panel
// ids, a Prometheus datasource variable, and panels on every service.
func TestDashboard(t *testing.T) {
	d, queries := dashboardQueries(t)
	if d["title"] == "" || d["uid"] == "" {
		t.Errorf("dashboard without title or uid")
	}
	ids := map[float64]bool{}
	var panels []map[string]any
	var collect func(v any)
	collect = func(v any) {
		list, _ := v.([]any)
		for _, p := range list {
			m, _ := p.(map[string]any)
			panels = append(panels, m)
			collect(m["panels"])
		}
	}
	collect(d["panels"])
	for _, p := range panels {
		id, _ := p["id"].(float64)
		if ids[id] {
			t.Errorf("panel id %v used twice", id)
		}
		ids[id] = true
		if p["type"] == "row" {
			continue
		}
		if p["title"] == "" || p["title"] == nil {
			t.Errorf("panel %v has no title", id)
		}
		targets, _ := p["targets"].([]any)
		if len(targets) == 0 {
			t.Errorf("panel %q has no query", p["title"])
		}
		if ds, _ := p["datasource"].(map[string]any); ds == nil || ds["uid"] != "${datasource}" {
			t.Errorf("panel %q does not use the ${datasource} variable", p["title"])
		}
	}
	// Panels sit inside the 24-column grid and do not overlap.
	type rect struct{ x, y, w, h float64 }
	var placed []rect
	for _, p := range panels {
		g, _ := p["gridPos"].(map[string]any)
		r := rect{num(g["x"]), num(g["y"]), num(g["w"]), num(g["h"])}
		if r.w <= 0 || r.h <= 0 || r.x < 0 || r.x+r.w > 24 {
			t.Errorf("panel %q has gridPos %v outside the 24-column grid", p["title"], g)
		}
		for _, o := range placed {
			if r.x < o.x+o.w && o.x < r.x+r.w && r.y < o.y+o.h && o.y < r.y+r.h {
				t.Errorf("panel %q (gridPos %v) overlaps another panel", p["title"], g)
			}
		}
		placed = append(placed, r)
	}
	services := map[string]bool{}
	for _, q := range queries {
		for _, m := range metricName.FindAllString(q, -1) {
			services[strings.SplitN(m, "_", 3)[1]] = true
		}
	}
	for _, s := range []string{"ingest", "consumer", "query"} {
		if !services[s] {
			t.Errorf("the dashboard shows no metric of %s", s)
		}
	}
	checkNames(t, namedMetrics(t))
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}
