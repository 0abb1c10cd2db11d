// Command promql parses PromQL expressions with Prometheus's own parser, for
// the chart tests (charts/test): it reads a JSON array of {"where", "expr"}
// on stdin and writes, for each, the parse error (if any) and the metric
// selectors of the expression (metric name and label matchers).
//
// It is a module of its own, outside the Go workspace, so that the
// Prometheus module's requirements never change the versions the services
// build with. Run it as `GOWORK=off go run .` from this directory.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// Query is one expression to check.
type Query struct {
	Where string `json:"where"`
	Expr  string `json:"expr"`
}

// Result is what the parser made of a Query.
type Result struct {
	Where     string     `json:"where"`
	Error     string     `json:"error,omitempty"`
	Selectors []Selector `json:"selectors,omitempty"`
	// Groupings are the `by (...)` clauses with the metrics they aggregate.
	Groupings []Grouping `json:"groupings,omitempty"`
}

// Grouping is one aggregation `op by (labels) (...)` over metrics.
type Grouping struct {
	Labels  []string `json:"labels"`
	Metrics []string `json:"metrics"`
}

// Selector is one vector selector: the metric and the label matchers.
type Selector struct {
	Metric   string    `json:"metric"`
	Matchers []Matcher `json:"matchers,omitempty"`
}

// Matcher is one label matcher of a selector (the metric name excluded).
type Matcher struct {
	Label string `json:"label"`
	Type  string `json:"type"`
	Value string `json:"value"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "promql:", err)
		os.Exit(1)
	}
}

func run() error {
	var queries []Query
	if err := json.NewDecoder(os.Stdin).Decode(&queries); err != nil {
		return fmt.Errorf("read queries from stdin: %w", err)
	}
	p := parser.NewParser(parser.Options{})
	out := make([]Result, 0, len(queries))
	for _, q := range queries {
		r := Result{Where: q.Where}
		expr, err := p.ParseExpr(q.Expr)
		if err != nil {
			r.Error = err.Error()
			out = append(out, r)
			continue
		}
		parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
			if agg, ok := n.(*parser.AggregateExpr); ok && !agg.Without && len(agg.Grouping) > 0 {
				g := Grouping{Labels: agg.Grouping}
				parser.Inspect(agg.Expr, func(n parser.Node, _ []parser.Node) error {
					if vs, ok := n.(*parser.VectorSelector); ok {
						g.Metrics = append(g.Metrics, vs.Name)
					}
					return nil
				})
				r.Groupings = append(r.Groupings, g)
			}
			vs, ok := n.(*parser.VectorSelector)
			if !ok {
				return nil
			}
			s := Selector{Metric: vs.Name}
			for _, m := range vs.LabelMatchers {
				if m.Name == labels.MetricName {
					continue
				}
				s.Matchers = append(s.Matchers, Matcher{Label: m.Name, Type: m.Type.String(), Value: m.Value})
			}
			r.Selectors = append(r.Selectors, s)
			return nil
		})
		out = append(out, r)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}
