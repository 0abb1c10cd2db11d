package export

import (
	"fmt"
	"sort"
	"strings"

	"logpipe/lib/logevent"
)

// shortNames are the product's short names for groups of columns, accepted in
// requested_data next to the documented column names.
var shortNames = map[string][]string{
	"request":  {"request.body"},
	"response": {"response.body"},
	"metadata": {"metadata.key", "metadata.value"},
	"id":       {"id"},
}

// Columns resolves requested_data to the columns an export writes, in the
// column table's order (documented export columns first). Empty means every
// documented export column. Each name is a documented export column or one of
// the short names request, response, metadata and id.
func Columns(requested []string) ([]logevent.Column, error) {
	if len(requested) == 0 {
		return logevent.ExportColumns(), nil
	}
	want := map[string]bool{}
	for _, name := range requested {
		if names, ok := shortNames[name]; ok {
			for _, n := range names {
				want[n] = true
			}
			continue
		}
		c, ok := logevent.Lookup(name)
		if !ok || !c.Exported {
			return nil, fmt.Errorf("unknown column %q: want one of %s", name, strings.Join(Requestable(), ", "))
		}
		want[name] = true
	}
	var cols []logevent.Column
	for _, c := range logevent.Columns {
		if want[c.Name] {
			cols = append(cols, c)
		}
	}
	return cols, nil
}

// Requestable lists the names requested_data accepts.
func Requestable() []string {
	var out []string
	for _, c := range logevent.ExportColumns() {
		out = append(out, c.Name)
	}
	var short []string
	for n := range shortNames {
		short = append(short, n)
	}
	sort.Strings(short)
	return append(out, short...)
}
