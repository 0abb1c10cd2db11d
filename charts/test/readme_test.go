package charttest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"logpipe/lib/tenant"
)

// documentedAsWhole are values documented as one entry (their content is a
// Kubernetes object or a free map), not key by key.
var documentedAsWhole = []string{"resources", "labels", "annotations", "podSecurityContext",
	"securityContext", "liveness", "readiness", "behavior", "podAnnotations"}

// valuePaths flattens values.yaml into the dotted paths the README documents;
// the per-service blocks are documented once as <service>.
func valuePaths(prefix string, v any, out map[string]bool) {
	m, ok := v.(map[string]any)
	last := prefix[strings.LastIndexByte(prefix, '.')+1:]
	if !ok || len(m) == 0 || strings.HasSuffix(prefix, "secrets.keys") || (prefix != "" && contains(documentedAsWhole, last)) {
		for _, s := range []string{"ingest.", "query.", "consumer."} {
			if rest, ok := strings.CutPrefix(prefix, s); ok {
				prefix = "<service>." + rest
			}
		}
		out[prefix] = true
		return
	}
	for k, c := range m {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		valuePaths(p, c, out)
	}
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// TestReadmeDocumentsEveryValue: every value of values.yaml has a row in the
// chart's README, and every row names a value that exists.
func TestReadmeDocumentsEveryValue(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(chartDir(t), "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(b, &values); err != nil {
		t.Fatal(err)
	}
	paths := map[string]bool{}
	valuePaths("", values, paths)
	// secrets.keys is documented by its three lists.
	delete(paths, "secrets.keys")
	for _, k := range []string{"organisations", "keys", "virtual_keys"} {
		paths["secrets.keys."+k] = true
	}
	readme, err := os.ReadFile(filepath.Join(chartDir(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]bool{}
	for _, line := range strings.Split(string(readme), "\n") {
		if rest, ok := strings.CutPrefix(line, "| `"); ok {
			name, _, _ := strings.Cut(rest, "`")
			rows[name] = true
		}
	}
	for p := range paths {
		if !rows[p] {
			t.Errorf("value %s has no row in charts/logpipe/README.md", p)
		}
	}
	for r := range rows {
		if strings.HasPrefix(r, "logpipe_") || strings.HasPrefix(r, "Logpipe") || strings.HasPrefix(r, "LOGPIPE_") {
			continue // metric and alert tables
		}
		if !paths[r] {
			t.Errorf("README row %s names no value of values.yaml", r)
		}
	}
}

// TestKeyRegistrySecret: the keys.json the chart writes is a registry the
// services can read, from values or from the file's text.
func TestKeyRegistrySecret(t *testing.T) {
	plain, key := tenant.NewKey("org-chart", "ws-chart", tenant.RoleAdmin)
	file := tenant.File{Organisations: []tenant.Organisation{{ID: "org-chart", Plan: tenant.PlanProduction}}, Keys: []tenant.Key{key}}
	path := filepath.Join(t.TempDir(), "keys.json")
	if err := tenant.WriteFile(path, file); err != nil {
		t.Fatal(err)
	}
	for name, extra := range map[string][]string{
		"defaults":         nil,
		"--set-file":       {"--set-file", "secrets.keysJSON=" + path},
		"values (-f file)": {"-f", writeKeysValues(t, file)},
	} {
		t.Run(name, func(t *testing.T) {
			r := loadRelease(t, defaults, extra...)
			var found bool
			for sname, s := range r.secrets {
				data, ok := s.Data["keys.json"]
				if !ok {
					continue
				}
				found = true
				var got tenant.File
				dec := json.NewDecoder(bytes.NewReader(data))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&got); err != nil {
					t.Fatalf("Secret %s keys.json is not a key registry: %v\n%s", sname, err, data)
				}
				reg, err := tenant.NewStatic(got)
				if err != nil {
					t.Fatalf("Secret %s keys.json: %v", sname, err)
				}
				_, ok = reg.Lookup(plain)
				if want := extra != nil; ok != want {
					t.Errorf("Secret %s: the key resolves: %v; want %v", sname, ok, want)
				}
			}
			if !found {
				t.Fatal("no Secret carries keys.json")
			}
		})
	}
}

func writeKeysValues(t *testing.T, f tenant.File) string {
	t.Helper()
	b, err := yaml.Marshal(map[string]any{"secrets": map[string]any{"keys": f}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "keys-values.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
