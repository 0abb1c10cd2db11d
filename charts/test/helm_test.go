package charttest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"sigs.k8s.io/yaml"
)

// kubeVersion is the Kubernetes version the chart is rendered for (the chart
// needs at least 1.23: autoscaling/v2, policy/v1).
const kubeVersion = "1.30.0"

var (
	helmOnce sync.Once
	helmPath string
	helmErr  error
)

// repoRoot is the repository root: this module sits in charts/test.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func chartDir(t *testing.T) string { return filepath.Join(repoRoot(t), "charts", "logpipe") }

// helm returns the helm binary, building it with scripts/helm.sh when it is
// missing (a one-off of a few minutes; the script does nothing afterwards).
func helm(t *testing.T) string {
	t.Helper()
	helmOnce.Do(func() {
		root := repoRoot(t)
		cmd := exec.Command(filepath.Join(root, "scripts", "helm.sh"))
		cmd.Dir = root
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			helmErr = err
			helmPath = out.String()
			return
		}
		helmPath = filepath.Join(root, ".cache", "bin", "helm")
	})
	if helmErr != nil {
		t.Fatalf("scripts/helm.sh: %v\n%s", helmErr, helmPath)
	}
	return helmPath
}

// runHelm runs helm with args and returns stdout, or stderr and the error.
// A template without signing keys or an existing Secret gets the tests' own
// keys (the chart refuses to render without), unless the args set them.
func runHelm(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	if all := strings.Join(args, " "); len(args) > 0 && args[0] == "template" &&
		!strings.Contains(all, "secrets.signingKeys") && !strings.Contains(all, "secrets.existingSecret") {
		args = append(args, "--set", "secrets.signingKeys=test:chart-test-signing-key-0123")
	}
	cmd := exec.Command(helm(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// A private helm home: no repositories or plugins of the machine leak in.
	home := t.TempDir()
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"))
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// valuesFile is one values file the chart is rendered with, relative to the
// repository root; "" is the chart's defaults.
type valuesFile string

const (
	defaults   valuesFile = ""
	production valuesFile = "charts/logpipe/values-production.yaml"
)

func (v valuesFile) args(t *testing.T, extra ...string) []string {
	t.Helper()
	var args []string
	if v != "" {
		args = append(args, "-f", filepath.Join(repoRoot(t), string(v)))
	}
	return append(args, extra...)
}

func (v valuesFile) String() string {
	if v == "" {
		return "defaults"
	}
	return filepath.Base(string(v))
}

// render runs helm template and fails the test on an error.
func render(t *testing.T, v valuesFile, extra ...string) []object {
	t.Helper()
	args := append([]string{"template", "rel", chartDir(t), "--namespace", "logpipe", "--kube-version", kubeVersion}, v.args(t, extra...)...)
	out, stderr, err := runHelm(t, args...)
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return splitManifests(t, out)
}

// object is one rendered manifest: its kind, name and raw YAML.
type object struct {
	Kind        string
	Name        string
	Annotations map[string]string
	Raw         []byte
}

func splitManifests(t *testing.T, out string) []object {
	t.Helper()
	var objs []object
	for _, doc := range strings.Split(out, "\n---") {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		var head struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name        string            `json:"name"`
				Annotations map[string]string `json:"annotations"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("rendered manifest is not YAML: %v\n%s", err, doc)
		}
		if head.Kind == "" || head.Metadata.Name == "" {
			t.Fatalf("rendered manifest without kind or name:\n%s", doc)
		}
		objs = append(objs, object{Kind: head.Kind, Name: head.Metadata.Name, Annotations: head.Metadata.Annotations, Raw: []byte(doc)})
	}
	return objs
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// decode strictly decodes o into v: a field the Kubernetes API does not know
// (a typo in a template) fails the test.
func decode(t *testing.T, o object, v any) {
	t.Helper()
	if err := yaml.UnmarshalStrict(o.Raw, v); err != nil {
		t.Fatalf("%s %s does not match the %T API type: %v", o.Kind, o.Name, v, err)
	}
}

func TestHelmLint(t *testing.T) {
	for _, v := range []valuesFile{defaults, production} {
		t.Run(v.String(), func(t *testing.T) {
			args := append([]string{"lint", "--strict", chartDir(t), "--kube-version", kubeVersion}, v.args(t)...)
			out, stderr, err := runHelm(t, args...)
			if err != nil {
				t.Fatalf("helm lint: %v\n%s%s", err, out, stderr)
			}
		})
	}
}

// TestChartRefusesImpossibleReleases checks the chart's own validation: a
// release that cannot work fails at render time, naming the value.
func TestChartRefusesImpossibleReleases(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  []string
		want string
	}{
		{"more consumers than partitions", []string{"--set", "kafka.logsTopicPartitions=3", "--set", "consumer.replicas=4"}, "consumer.replicas"},
		{"no partitions", []string{"--set", "kafka.logsTopicPartitions=0"}, "kafka.logsTopicPartitions"},
		{"export volume not shareable", []string{"--set", "exports.persistence.accessModes={ReadWriteOnce}"}, "ReadWriteMany"},
		{"unknown schema variant", []string{"--set", "clickhouse.schemaVariant=sharded"}, "schemaVariant"},
		{"no signing keys", []string{"--set", "secrets.signingKeys="}, "secrets.signingKeys"},
		{"unknown SASL mechanism", []string{"--set", "kafka.sasl.mechanism=GSSAPI"}, "kafka.sasl.mechanism"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"template", "rel", chartDir(t), "--kube-version", kubeVersion}, tc.set...)
			_, stderr, err := runHelm(t, args...)
			if err == nil {
				t.Fatalf("helm template %v succeeded; want a failure naming %s", tc.set, tc.want)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Fatalf("helm template %v failed with %q; want it to name %s", tc.set, stderr, tc.want)
			}
		})
	}
	// One query replica may use a ReadWriteOnce volume.
	render(t, defaults, "--set", "exports.persistence.accessModes={ReadWriteOnce}",
		"--set", "query.autoscaling.enabled=false", "--set", "query.replicas=1")
}

// TestPackage packages the chart as it would be published: the alert rules,
// the dashboard and the README are in it; tests, test data and editor files
// are not (.helmignore).
func TestPackage(t *testing.T) {
	dir := t.TempDir()
	if out, stderr, err := runHelm(t, "package", chartDir(t), "-d", dir); err != nil {
		t.Fatalf("helm package: %v\n%s%s", err, out, stderr)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "logpipe-*.tgz"))
	if len(matches) != 1 {
		t.Fatalf("helm package wrote %v", matches)
	}
	f, err := os.Open(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	files := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimPrefix(h.Name, "logpipe/")] = true
	}
	for _, want := range []string{"Chart.yaml", "values.yaml", "README.md", "files/prometheus-rules.yaml", "files/grafana-dashboard.json", "templates/migrate-job.yaml"} {
		if !files[want] {
			t.Errorf("the package lacks %s", want)
		}
	}
	for name := range files {
		if strings.HasSuffix(name, "_test.go") || strings.Contains(name, "testdata/") || strings.HasSuffix(name, "~") {
			t.Errorf("the package carries %s", name)
		}
	}
}
