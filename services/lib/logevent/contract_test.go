package logevent

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io/fs"
	"path"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"logpipe/schemas"
)

// The drift guard: the Go type, the column table, the JSON Schema and the
// ClickHouse migration must name the same columns with matching types.

func TestGoTypeMatchesColumnTable(t *testing.T) {
	kindOf := map[reflect.Type]Kind{
		reflect.TypeOf(""): KindString, reflect.TypeOf(RawJSON(nil)): KindRaw, reflect.TypeOf(Millis(0)): KindTime,
		reflect.TypeOf(uint8(0)): KindUInt8, reflect.TypeOf(uint16(0)): KindUInt16, reflect.TypeOf(uint32(0)): KindUInt32,
		reflect.TypeOf(float64(0)): KindFloat64, reflect.TypeOf([]string(nil)): KindStrings,
	}
	typ := reflect.TypeOf(Event{})
	fields := map[string]Kind{}
	for i := range typ.NumField() {
		f := typ.Field(i)
		name := strings.Split(f.Tag.Get("json"), ",")[0]
		k, ok := kindOf[f.Type]
		if !ok {
			t.Fatalf("field %s has type %s, which no column kind maps", f.Name, f.Type)
		}
		fields[name] = k
	}
	if len(fields) != len(Columns) {
		t.Errorf("Event has %d JSON fields; the column table has %d", len(fields), len(Columns))
	}
	for _, c := range Columns {
		k, ok := fields[c.Name]
		if !ok {
			t.Errorf("column %s has no Event field", c.Name)
			continue
		}
		if k != c.Kind {
			t.Errorf("column %s: Event field kind %v; column kind %v", c.Name, k, c.Kind)
		}
	}
	// Value and Dest must address the field of the same name: set every field
	// through Dest, then read it back through JSON.
	var e Event
	for i, c := range Columns {
		switch d := c.Dest(&e).(type) {
		case *string:
			*d = c.Name
		case *RawJSON:
			*d = RawJSON(`"` + c.Name + `"`)
		case *Millis:
			*d = Millis(i)
		case *uint8:
			*d = 1
		case *uint16:
			*d = uint16(i)
		case *uint32:
			*d = uint32(i)
		case *float64:
			*d = float64(i)
		case *[]string:
			*d = []string{c.Name}
		default:
			t.Fatalf("column %s: unexpected Dest %T", c.Name, d)
		}
	}
	b, _ := json.Marshal(&e)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for i, c := range Columns {
		got := m[c.Name]
		var want any
		switch c.Kind {
		case KindString, KindRaw:
			want = c.Name
		case KindTime:
			want = Millis(i).String()
		case KindUInt8:
			want = float64(1)
		case KindStrings:
			want = []any{c.Name}
		default:
			want = float64(i)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("column %s: Dest writes a field whose JSON is %v; want %v", c.Name, got, want)
		}
		if v := c.Value(&e); reflect.TypeOf(v).String() != map[Kind]string{KindString: "string", KindRaw: "string", KindTime: "uint64",
			KindUInt8: "uint8", KindUInt16: "uint16", KindUInt32: "uint32", KindFloat64: "float64", KindStrings: "[]string"}[c.Kind] {
			t.Errorf("column %s: Value returns %T, which does not suit ClickHouse %s", c.Name, v, c.Kind.ClickHouseType())
		}
	}
}

func TestExportColumnsAreTheDocumentedSet(t *testing.T) {
	want := []string{"created_at", "request.body", "response.body", "is_success", "ai_org", "ai_model", "req_units",
		"res_units", "total_units", "cost", "cost_currency", "request_url", "request_method", "response_status_code",
		"response_time", "cache_status", "cache_type", "stream_mode", "retry_success_count", "trace_id", "mode",
		"virtual_key", "runtime", "runtime_version", "sdk_version", "config", "prompt_slug", "prompt_version_id",
		"metadata.key", "metadata.value"}
	var got []string
	for _, c := range ExportColumns() {
		got = append(got, c.Name)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("export columns\n got %v\nwant %v", got, want)
	}
}

func loadSchema(t *testing.T) (*jsonschema.Schema, map[string]any) {
	t.Helper()
	raw, err := fs.ReadFile(schemas.FS, "event/event.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("event.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("event.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return s, m
}

func TestJSONSchemaMatchesColumnTable(t *testing.T) {
	_, m := loadSchema(t)
	props := m["properties"].(map[string]any)
	if len(props) != len(Columns) {
		t.Errorf("JSON Schema has %d properties; the column table has %d", len(props), len(Columns))
	}
	for _, c := range Columns {
		p, ok := props[c.Name].(map[string]any)
		if !ok {
			t.Errorf("column %s is not a JSON Schema property", c.Name)
			continue
		}
		var want string
		switch c.Kind {
		case KindString:
			want = "string"
		case KindRaw, KindTime:
			want = "" // any JSON value; ISO-8601 string or epoch ms
		case KindFloat64:
			want = "number"
		case KindStrings:
			want = "array"
		default:
			want = "integer"
		}
		got, _ := p["type"].(string)
		if got != want {
			t.Errorf("JSON Schema %s: type %q; want %q for %v", c.Name, got, want, c.Kind)
		}
	}
	enums := map[string][]string{"cache_status": CacheStatuses, "cache_type": CacheTypes, "stream_mode": StreamModes, "mode": Modes}
	for name, want := range enums {
		var got []string
		for _, v := range props[name].(map[string]any)["enum"].([]any) {
			got = append(got, v.(string))
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("JSON Schema %s enum %q; Go has %q", name, got, want)
		}
	}
}

// completed fills what ingest sets before validating: id, tenant and time.
func completed(e Event) Event {
	if e.ID == "" {
		e.ID = NewID()
	}
	e.WorkspaceID, e.OrganisationID = "ws", "org"
	if e.CreatedAt == 0 {
		e.CreatedAt = 1
	}
	return e
}

func TestExamplesAgreeWithSchemaAndGo(t *testing.T) {
	s, _ := loadSchema(t)
	for _, dir := range []string{"valid", "invalid"} {
		files, err := fs.Glob(schemas.FS, "event/testdata/"+dir+"/*.json")
		if err != nil || len(files) == 0 {
			t.Fatalf("no %s examples: %v", dir, err)
		}
		for _, f := range files {
			t.Run(dir+"/"+path.Base(f), func(t *testing.T) {
				raw, _ := fs.ReadFile(schemas.FS, f)
				doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
				if err != nil {
					t.Fatal(err)
				}
				schemaErr := s.Validate(doc)
				var goErr any
				e, err := DecodeStrict(raw)
				if err != nil {
					goErr = err
				} else {
					e = completed(e)
					if errs := e.Validate(DefaultLimits); errs != nil {
						goErr = errs
					}
				}
				if dir == "valid" {
					if schemaErr != nil {
						t.Errorf("JSON Schema rejects a valid example: %v", schemaErr)
					}
					if goErr != nil {
						t.Errorf("Go rejects a valid example: %v", goErr)
					}
					return
				}
				if schemaErr == nil {
					t.Errorf("JSON Schema accepts an invalid example")
				}
				if goErr == nil {
					t.Errorf("Go accepts an invalid example")
				}
			})
		}
	}
}

// migrationColumns reads the column definitions of CREATE TABLE name from a
// migration file, expanding Nested(...) into its dotted array columns.
func migrationColumns(t *testing.T, file, table string) map[string]string {
	t.Helper()
	raw, err := fs.ReadFile(schemas.FS, file)
	if err != nil {
		t.Fatal(err)
	}
	colRe := regexp.MustCompile("^\\s+`?([A-Za-z0-9_.]+)`?\\s+(.+?),?$")
	nestedRe := regexp.MustCompile(`^Nested\((.*)\)$`)
	cols := map[string]string{}
	in := false
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "CREATE TABLE IF NOT EXISTS "+table):
			in = true
		case in && strings.HasPrefix(line, ")"):
			return cols
		case in:
			m := colRe.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			if n := nestedRe.FindStringSubmatch(m[2]); n != nil {
				for _, part := range strings.Split(n[1], ",") {
					f := strings.Fields(part)
					cols[m[1]+"."+f[0]] = "Array(" + f[1] + ")"
				}
				continue
			}
			cols[m[1]] = m[2]
		}
	}
	t.Fatalf("%s: no CREATE TABLE %s", file, table)
	return nil
}

func TestMigrationsMatchColumnTable(t *testing.T) {
	for _, file := range []string{"clickhouse/single/0001_logs.sql", "clickhouse/cluster/0001_logs.sql"} {
		got := migrationColumns(t, file, map[string]string{"clickhouse/single/0001_logs.sql": "logs", "clickhouse/cluster/0001_logs.sql": "logs_local"}[file])
		want := map[string]string{}
		for _, c := range Columns {
			want[c.Name] = c.Kind.ClickHouseType()
		}
		if !reflect.DeepEqual(got, want) {
			var diff []string
			for k, v := range want {
				if got[k] != v {
					diff = append(diff, k+": migration "+got[k]+", table "+v)
				}
			}
			for k, v := range got {
				if _, ok := want[k]; !ok {
					diff = append(diff, k+": migration "+v+", not in the column table")
				}
			}
			sort.Strings(diff)
			t.Errorf("%s disagrees with the column table:\n%s", file, strings.Join(diff, "\n"))
		}
	}
}
