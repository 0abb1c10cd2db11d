package charttest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// release is a rendered chart, decoded into the Kubernetes API types.
type release struct {
	values       map[string]any
	deployments  map[string]*appsv1.Deployment
	services     map[string]*corev1.Service
	hpas         map[string]*autoscalingv2.HorizontalPodAutoscaler
	pdbs         map[string]*policyv1.PodDisruptionBudget
	ingresses    map[string]*networkingv1.Ingress
	jobs         map[string]*batchv1.Job
	secrets      map[string]*corev1.Secret
	configMaps   map[string]*corev1.ConfigMap
	pvcs         map[string]*corev1.PersistentVolumeClaim
	accounts     map[string]*corev1.ServiceAccount
	custom       map[string]map[string]any // kind/name -> object (ServiceMonitor, PrometheusRule)
	hooks        map[string]object         // kind/name -> hook objects
	orderedNames []string
}

// loadRelease renders the chart with v (plus extra helm flags) and decodes
// every object strictly into its API type.
func loadRelease(t *testing.T, v valuesFile, extra ...string) *release {
	t.Helper()
	r := decodeRelease(t, render(t, v, extra...))
	r.values = effectiveValues(t, v, extra)
	return r
}

// decodeRelease decodes rendered objects strictly into their API types.
func decodeRelease(t *testing.T, objs []object) *release {
	t.Helper()
	r := &release{
		deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{},
		hpas: map[string]*autoscalingv2.HorizontalPodAutoscaler{}, pdbs: map[string]*policyv1.PodDisruptionBudget{},
		ingresses: map[string]*networkingv1.Ingress{}, jobs: map[string]*batchv1.Job{},
		secrets: map[string]*corev1.Secret{}, configMaps: map[string]*corev1.ConfigMap{},
		pvcs: map[string]*corev1.PersistentVolumeClaim{}, accounts: map[string]*corev1.ServiceAccount{},
		custom: map[string]map[string]any{}, hooks: map[string]object{},
	}
	for _, o := range objs {
		key := o.Kind + "/" + o.Name
		if _, dup := r.hooks[key]; dup || slices.Contains(r.orderedNames, key) {
			t.Fatalf("%s rendered twice", key)
		}
		r.orderedNames = append(r.orderedNames, key)
		if o.Annotations["helm.sh/hook"] != "" {
			r.hooks[key] = o
		}
		switch o.Kind {
		case "Deployment":
			d := &appsv1.Deployment{}
			decode(t, o, d)
			r.deployments[o.Name] = d
		case "Service":
			s := &corev1.Service{}
			decode(t, o, s)
			r.services[o.Name] = s
		case "HorizontalPodAutoscaler":
			h := &autoscalingv2.HorizontalPodAutoscaler{}
			decode(t, o, h)
			r.hpas[o.Name] = h
		case "PodDisruptionBudget":
			p := &policyv1.PodDisruptionBudget{}
			decode(t, o, p)
			r.pdbs[o.Name] = p
		case "Ingress":
			i := &networkingv1.Ingress{}
			decode(t, o, i)
			r.ingresses[o.Name] = i
		case "Job":
			j := &batchv1.Job{}
			decode(t, o, j)
			r.jobs[o.Name] = j
		case "Secret":
			s := &corev1.Secret{}
			decode(t, o, s)
			r.secrets[o.Name] = s
		case "ConfigMap":
			c := &corev1.ConfigMap{}
			decode(t, o, c)
			r.configMaps[o.Name] = c
		case "PersistentVolumeClaim":
			p := &corev1.PersistentVolumeClaim{}
			decode(t, o, p)
			r.pvcs[o.Name] = p
		case "ServiceAccount":
			s := &corev1.ServiceAccount{}
			decode(t, o, s)
			r.accounts[o.Name] = s
		case "ServiceMonitor", "PrometheusRule":
			var m map[string]any
			if err := yaml.Unmarshal(o.Raw, &m); err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			r.custom[key] = m
		default:
			t.Fatalf("the chart renders a %s (%s) that this test does not check: add its checks", o.Kind, o.Name)
		}
	}
	return r
}

// effectiveValues returns the values a render uses: the chart's defaults,
// then the values file, then the --set flags among extra (as helm merges them).
func effectiveValues(t *testing.T, v valuesFile, extra []string) map[string]any {
	t.Helper()
	out, stderr, err := runHelm(t, "show", "values", chartDir(t))
	if err != nil {
		t.Fatalf("helm show values: %v\n%s", err, stderr)
	}
	var values map[string]any
	if err := yaml.Unmarshal([]byte(out), &values); err != nil {
		t.Fatalf("chart values: %v", err)
	}
	if v != defaults {
		b, err := os.ReadFile(filepath.Join(repoRoot(t), string(v)))
		if err != nil {
			t.Fatal(err)
		}
		var file map[string]any
		if err := yaml.Unmarshal(b, &file); err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		mergeValues(values, file)
	}
	for i := 0; i+1 < len(extra); i++ {
		if extra[i] != "--set" {
			continue
		}
		path, val, _ := strings.Cut(extra[i+1], "=")
		m := values
		parts := strings.Split(path, ".")
		for _, p := range parts[:len(parts)-1] {
			next, ok := m[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[p] = next
			}
			m = next
		}
		var parsed any = val
		if b, err := strconv.ParseBool(val); err == nil {
			parsed = b
		} else if n, err := strconv.Atoi(val); err == nil {
			parsed = float64(n)
		}
		m[parts[len(parts)-1]] = parsed
	}
	return values
}

// mergeValues merges src into dst: maps deeply, everything else replaced.
func mergeValues(dst, src map[string]any) {
	for k, sv := range src {
		if sm, ok := sv.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergeValues(dm, sm)
				continue
			}
		}
		dst[k] = sv
	}
}

// value returns the value at a dotted path of the effective values.
func (r *release) value(path string) any {
	var cur any = r.values
	for _, p := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

// componentOf returns the app.kubernetes.io/component label of a pod template.
func componentOf(d *appsv1.Deployment) string {
	return d.Spec.Template.Labels["app.kubernetes.io/component"]
}

func (r *release) deploymentOf(t *testing.T, component string) *appsv1.Deployment {
	t.Helper()
	for _, d := range r.deployments {
		if componentOf(d) == component {
			return d
		}
	}
	t.Fatalf("no Deployment for component %s", component)
	return nil
}

// selects reports whether selector (a label map) matches labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// checkAll runs every invariant on a rendered release.
func checkAll(t *testing.T, r *release) {
	t.Helper()
	for _, c := range []struct {
		name string
		fn   func(*testing.T, *release)
	}{
		{"deployments", checkDeployments},
		{"services", checkServices},
		{"references", checkReferences},
		{"ingress", checkIngress},
		{"migration hook", checkMigrationHook},
		{"autoscaling", checkAutoscaling},
		{"disruption budgets", checkPDBs},
		{"consumer replicas", checkConsumerReplicas},
		{"dashboard", checkDashboardConfigMap},
		{"names and labels", checkNamesAndLabels},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, r) })
	}
}

func TestRenderedManifests(t *testing.T) {
	for _, v := range []valuesFile{defaults, production} {
		t.Run(v.String(), func(t *testing.T) {
			r := loadRelease(t, v)
			checkAll(t, r)
			if v == defaults {
				for key := range r.custom {
					t.Errorf("%s renders by default; the Prometheus Operator objects must be opt-in", key)
				}
			}
		})
	}
}

// TestOptionalObjects renders the opt-in objects (ServiceMonitor,
// PrometheusRule, rules ConfigMap) and the existing-Secret variant.
func TestOptionalObjects(t *testing.T) {
	r := loadRelease(t, defaults,
		"--set", "metrics.serviceMonitor.enabled=true",
		"--set", "metrics.serviceMonitor.labels.release=prom",
		"--set", "metrics.prometheusRule.enabled=true",
		"--set", "metrics.rulesConfigMap.enabled=true")
	checkAll(t, r)
	t.Run("servicemonitor", func(t *testing.T) { checkServiceMonitor(t, r) })
	t.Run("prometheusrule", func(t *testing.T) { checkPrometheusRule(t, r) })

	t.Run("existing secret", func(t *testing.T) {
		r := loadRelease(t, defaults, "--set", "secrets.existingSecret=my-logpipe")
		if len(r.secrets) != 0 {
			t.Fatalf("with secrets.existingSecret the chart still renders Secrets %v", keys(r.secrets))
		}
		for _, d := range r.deployments {
			for _, ref := range secretRefs(d.Spec.Template.Spec) {
				if ref.name != "my-logpipe" {
					t.Errorf("Deployment %s refers to Secret %s; want the existing my-logpipe", d.Name, ref.name)
				}
			}
		}
		for _, j := range r.jobs {
			for _, ref := range secretRefs(j.Spec.Template.Spec) {
				if ref.name != "my-logpipe" {
					t.Errorf("Job %s refers to Secret %s; want the existing my-logpipe", j.Name, ref.name)
				}
			}
		}
	})
	t.Run("no ingress, no persistence", func(t *testing.T) {
		r := loadRelease(t, defaults, "--set", "ingress.enabled=false", "--set", "exports.persistence.enabled=false")
		checkDeployments(t, r)
		checkReferences(t, r)
		if len(r.ingresses) != 0 || len(r.pvcs) != 0 {
			t.Fatalf("ingress or PVC rendered while disabled")
		}
	})
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// checkDeployments: each of the three services runs with probes on its http
// port, requests and limits, a non-root read-only security context, and a
// selector that matches its own pod template.
func checkDeployments(t *testing.T, r *release) {
	var comps []string
	for _, d := range r.deployments {
		comps = append(comps, componentOf(d))
		if d.Spec.Selector == nil || !selects(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
			t.Errorf("Deployment %s: selector %v does not match its pod labels %v", d.Name, d.Spec.Selector, d.Spec.Template.Labels)
		}
		spec := d.Spec.Template.Spec
		if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
			t.Errorf("Deployment %s mounts a service account token it never uses", d.Name)
		}
		if len(spec.Containers) == 0 {
			t.Errorf("Deployment %s has no containers", d.Name)
		}
		for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
			where := fmt.Sprintf("Deployment %s container %s", d.Name, c.Name)
			checkProbe(t, where+" liveness", c.LivenessProbe, "/healthz", c.Ports)
			checkProbe(t, where+" readiness", c.ReadinessProbe, "/readyz", c.Ports)
			checkContainerBasics(t, where, spec, c)
			if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
				return e.Name == "GOMEMLIMIT" && e.ValueFrom != nil && e.ValueFrom.ResourceFieldRef != nil &&
					e.ValueFrom.ResourceFieldRef.Resource == "limits.memory" && e.ValueFrom.ResourceFieldRef.ContainerName == c.Name
			}) {
				t.Errorf("%s: GOMEMLIMIT does not follow its own memory limit", where)
			}
			env := envOf(r, c)
			if env["LOGPIPE_MIGRATE"] != "false" {
				t.Errorf("%s: LOGPIPE_MIGRATE=%q; the services must leave migrations to the hook Job", where, env["LOGPIPE_MIGRATE"])
			}
			addrEnv := "LOGPIPE_" + strings.ToUpper(componentOf(d)) + "_ADDR"
			if len(c.Ports) != 1 {
				t.Errorf("%s: %d ports; want the one http port", where, len(c.Ports))
			} else if want := "0.0.0.0:" + strconv.Itoa(int(c.Ports[0].ContainerPort)); env[addrEnv] != want {
				t.Errorf("%s: %s=%q; want %q (the container port, on every interface)", where, addrEnv, env[addrEnv], want)
			}
		}
	}
	slices.Sort(comps)
	if want := []string{"consumer", "ingest", "query"}; !reflect.DeepEqual(comps, want) {
		t.Errorf("Deployments for %v; want %v", comps, want)
	}
}

func checkProbe(t *testing.T, where string, p *corev1.Probe, path string, ports []corev1.ContainerPort) {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Errorf("%s: no HTTP probe", where)
		return
	}
	if p.HTTPGet.Path != path {
		t.Errorf("%s probes %s; want %s", where, p.HTTPGet.Path, path)
	}
	if !portDeclared(p.HTTPGet.Port, ports) {
		t.Errorf("%s probes port %s which the container does not declare", where, p.HTTPGet.Port.String())
	}
}

func portDeclared(p intstr.IntOrString, ports []corev1.ContainerPort) bool {
	for _, cp := range ports {
		if (p.Type == intstr.String && p.StrVal == cp.Name) || (p.Type == intstr.Int && p.IntVal == cp.ContainerPort) {
			return true
		}
	}
	return false
}

// checkContainerBasics: requests and limits of CPU and memory, and a
// security context that is non-root, read-only, without privilege escalation.
func checkContainerBasics(t *testing.T, where string, pod corev1.PodSpec, c corev1.Container) {
	t.Helper()
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okReq := c.Resources.Requests[res]
		lim, okLim := c.Resources.Limits[res]
		if !okReq || !okLim {
			t.Errorf("%s: %s request or limit missing", where, res)
			continue
		}
		if req.Cmp(lim) > 0 {
			t.Errorf("%s: %s request %s above its limit %s", where, res, req.String(), lim.String())
		}
	}
	sc := c.SecurityContext
	if sc == nil {
		t.Errorf("%s: no security context", where)
		return
	}
	nonRoot := sc.RunAsNonRoot
	if nonRoot == nil && pod.SecurityContext != nil {
		nonRoot = pod.SecurityContext.RunAsNonRoot
	}
	if nonRoot == nil || !*nonRoot {
		t.Errorf("%s: runAsNonRoot is not true", where)
	}
	user := sc.RunAsUser
	if user == nil && pod.SecurityContext != nil {
		user = pod.SecurityContext.RunAsUser
	}
	if user == nil || *user == 0 {
		t.Errorf("%s: runs without a non-zero runAsUser (distroless nonroot is 65532)", where)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("%s: root filesystem is writable", where)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("%s: privilege escalation allowed", where)
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Errorf("%s: privileged", where)
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("%s: capabilities not dropped", where)
	}
	mounted := false
	for _, m := range c.VolumeMounts {
		mounted = mounted || m.MountPath == "/tmp"
	}
	if !mounted {
		t.Errorf("%s: no writable /tmp on a read-only root filesystem", where)
	}
}

// envOf resolves a container's environment: ConfigMaps of envFrom rendered by
// the chart, then env values (later entries win, as in Kubernetes).
func envOf(r *release, c corev1.Container) map[string]string {
	env := map[string]string{}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef != nil {
			if cm := r.configMaps[from.ConfigMapRef.Name]; cm != nil {
				for k, v := range cm.Data {
					env[from.Prefix+k] = v
				}
			}
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		} else {
			env[e.Name] = "<from " + e.Name + ">"
		}
	}
	return env
}

// checkServices: every Service selects exactly one Deployment's pods, and
// each of its ports targets a port that Deployment's container declares.
func checkServices(t *testing.T, r *release) {
	if len(r.services) == 0 {
		t.Fatal("no Services rendered")
	}
	for _, s := range r.services {
		var matched []*appsv1.Deployment
		for _, d := range r.deployments {
			if selects(s.Spec.Selector, d.Spec.Template.Labels) {
				matched = append(matched, d)
			}
		}
		if len(matched) != 1 {
			t.Errorf("Service %s (selector %v) selects %d Deployments; want exactly 1", s.Name, s.Spec.Selector, len(matched))
			continue
		}
		d := matched[0]
		for _, p := range s.Spec.Ports {
			found := false
			for _, c := range d.Spec.Template.Spec.Containers {
				found = found || portDeclared(p.TargetPort, c.Ports)
			}
			if !found {
				t.Errorf("Service %s port %s targets %s, which Deployment %s does not declare", s.Name, p.Name, p.TargetPort.String(), d.Name)
			}
		}
	}
	for _, d := range r.deployments {
		n := 0
		for _, s := range r.services {
			if selects(s.Spec.Selector, d.Spec.Template.Labels) {
				n++
			}
		}
		if n == 0 {
			t.Errorf("Deployment %s has no Service (its /metrics could not be scraped)", d.Name)
		}
	}
	// Ingest forwards GET /v1/logs to query: its LOGPIPE_QUERY_URL names the
	// query Service and port.
	ingest := r.deploymentOf(t, "ingest")
	query := r.deploymentOf(t, "query")
	url := envOf(r, ingest.Spec.Template.Spec.Containers[0])["LOGPIPE_QUERY_URL"]
	ok := false
	for _, s := range r.services {
		if selects(s.Spec.Selector, query.Spec.Template.Labels) {
			for _, p := range s.Spec.Ports {
				ok = ok || url == fmt.Sprintf("http://%s:%d", s.Name, p.Port)
			}
		}
	}
	if !ok {
		t.Errorf("ingest LOGPIPE_QUERY_URL=%q names no port of a Service of query", url)
	}
}

type secretRef struct{ name, key string }

// secretRefs lists every Secret key a pod spec reads (env and volumes).
func secretRefs(spec corev1.PodSpec) []secretRef {
	var out []secretRef
	for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				out = append(out, secretRef{e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key})
			}
		}
		for _, f := range c.EnvFrom {
			if f.SecretRef != nil {
				out = append(out, secretRef{f.SecretRef.Name, ""})
			}
		}
	}
	for _, v := range spec.Volumes {
		if v.Secret != nil {
			if len(v.Secret.Items) == 0 {
				out = append(out, secretRef{v.Secret.SecretName, ""})
			}
			for _, it := range v.Secret.Items {
				out = append(out, secretRef{v.Secret.SecretName, it.Key})
			}
		}
	}
	return out
}

// checkReferences: every Secret key, ConfigMap, claim and service account a
// pod uses is rendered by the chart (unless it is an existing Secret named in
// the values), and every volume mount names a volume.
func checkReferences(t *testing.T, r *release) {
	existing, _ := r.value("secrets.existingSecret").(string)
	check := func(where string, spec corev1.PodSpec, hook bool) {
		for _, ref := range secretRefs(spec) {
			s := r.secrets[ref.name]
			if s == nil {
				if ref.name != existing || existing == "" {
					t.Errorf("%s reads Secret %s, which the chart does not render", where, ref.name)
				}
				continue
			}
			if _, ok := s.Data[ref.key]; ref.key != "" && !ok {
				t.Errorf("%s reads key %s of Secret %s, which has keys %v", where, ref.key, ref.name, keys(s.Data))
			}
			if _, isHook := r.hooks["Secret/"+ref.name]; isHook && !hook {
				t.Errorf("%s reads hook Secret %s, which Helm deletes after the hook", where, ref.name)
			}
		}
		for _, c := range spec.Containers {
			for _, f := range c.EnvFrom {
				if f.ConfigMapRef != nil && r.configMaps[f.ConfigMapRef.Name] == nil {
					t.Errorf("%s reads ConfigMap %s, which the chart does not render", where, f.ConfigMapRef.Name)
				}
			}
			for _, m := range c.VolumeMounts {
				if !slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == m.Name }) {
					t.Errorf("%s mounts volume %s, which the pod does not define", where, m.Name)
				}
			}
		}
		for _, v := range spec.Volumes {
			if v.PersistentVolumeClaim != nil && r.pvcs[v.PersistentVolumeClaim.ClaimName] == nil {
				t.Errorf("%s uses claim %s, which the chart does not render", where, v.PersistentVolumeClaim.ClaimName)
			}
		}
		if sa := spec.ServiceAccountName; sa != "" && sa != "default" && r.accounts[sa] == nil && !hook {
			t.Errorf("%s runs as service account %s, which the chart does not render", where, sa)
		}
	}
	for _, d := range r.deployments {
		check("Deployment "+d.Name, d.Spec.Template.Spec, false)
	}
	for _, j := range r.jobs {
		check("Job "+j.Name, j.Spec.Template.Spec, true)
	}
	// The query service keeps export files on the claim when persistence is on.
	q := r.deploymentOf(t, "query")
	env := envOf(r, q.Spec.Template.Spec.Containers[0])
	dir := env["LOGPIPE_EXPORT_DIR"]
	mounted := false
	for _, m := range q.Spec.Template.Spec.Containers[0].VolumeMounts {
		mounted = mounted || (m.MountPath == dir && !m.ReadOnly)
	}
	if dir == "" || !mounted {
		t.Errorf("query LOGPIPE_EXPORT_DIR=%q is not a writable mounted volume", dir)
	}
}

// checkIngress: one host, routed by path only, as scripts/nginx/logpipe.conf.tmpl.
func checkIngress(t *testing.T, r *release) {
	if len(r.ingresses) != 1 {
		t.Fatalf("%d Ingresses; want 1", len(r.ingresses))
	}
	svcOf := func(component string) string {
		d := r.deploymentOf(t, component)
		for _, s := range r.services {
			if selects(s.Spec.Selector, d.Spec.Template.Labels) {
				return s.Name
			}
		}
		return ""
	}
	want := map[string]string{
		"Exact /v1/logs":      svcOf("ingest"),
		"Prefix /v1/feedback": svcOf("ingest"),
		"Prefix /v1":          svcOf("query"),
		"Exact /":             svcOf("query"),
		"Prefix /ui":          svcOf("query"),
	}
	// The operational endpoints are never routed.
	for _, ing := range r.ingresses {
		for _, p := range ing.Spec.Rules[0].HTTP.Paths {
			for _, op := range []string{"/metrics", "/healthz", "/readyz"} {
				if p.Path == op || (p.PathType != nil && *p.PathType == "Prefix" && strings.HasPrefix(op, strings.TrimSuffix(p.Path, "/")+"/")) {
					t.Errorf("Ingress %s routes %s through %s %s", ing.Name, op, *p.PathType, p.Path)
				}
			}
		}
	}
	for _, ing := range r.ingresses {
		if len(ing.Spec.Rules) != 1 {
			t.Fatalf("Ingress %s has %d rules; want one host", ing.Name, len(ing.Spec.Rules))
		}
		got := map[string]string{}
		for _, p := range ing.Spec.Rules[0].HTTP.Paths {
			if p.PathType == nil || p.Backend.Service == nil {
				t.Errorf("Ingress %s path %s without a path type or a Service backend", ing.Name, p.Path)
				continue
			}
			got[string(*p.PathType)+" "+p.Path] = p.Backend.Service.Name
			s := r.services[p.Backend.Service.Name]
			if s == nil {
				t.Errorf("Ingress %s routes %s to Service %s, which is not rendered", ing.Name, p.Path, p.Backend.Service.Name)
				continue
			}
			bp := p.Backend.Service.Port
			if !slices.ContainsFunc(s.Spec.Ports, func(sp corev1.ServicePort) bool {
				return (bp.Name != "" && sp.Name == bp.Name) || (bp.Number != 0 && sp.Port == bp.Number)
			}) {
				t.Errorf("Ingress %s routes %s to port %v of Service %s, which does not expose it", ing.Name, p.Path, bp, s.Name)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Ingress %s routes %v; want %v", ing.Name, got, want)
		}
	}
}

// hookWeight returns an object's helm.sh/hook-weight (0 when unset).
func hookWeight(t *testing.T, o object) int {
	t.Helper()
	w := o.Annotations["helm.sh/hook-weight"]
	if w == "" {
		return 0
	}
	n, err := strconv.Atoi(w)
	if err != nil {
		t.Fatalf("%s/%s: hook weight %q is not a number", o.Kind, o.Name, w)
	}
	return n
}

func hookEvents(o object) []string {
	var out []string
	for _, e := range strings.Split(o.Annotations["helm.sh/hook"], ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	slices.Sort(out)
	return out
}

// checkMigrationHook: the migration Job runs `logpipectl migrate` as a
// pre-install and pre-upgrade hook, so Helm finishes it before it creates or
// updates any Deployment (which are never hooks). Hooks run before the
// release's ordinary objects exist, so everything the Job reads is either a
// hook of the same events with a lower weight (created first) or an existing
// Secret named in the values.
func checkMigrationHook(t *testing.T, r *release) {
	if len(r.jobs) != 1 {
		t.Fatalf("%d Jobs; want the one migration Job", len(r.jobs))
	}
	for name, j := range r.jobs {
		o, ok := r.hooks["Job/"+name]
		if !ok {
			t.Fatalf("Job %s is not a Helm hook: it would run alongside the Deployments", name)
		}
		if ev := hookEvents(o); !reflect.DeepEqual(ev, []string{"pre-install", "pre-upgrade"}) {
			t.Errorf("Job %s hook events %v; want pre-install and pre-upgrade", name, ev)
		}
		if !strings.Contains(o.Annotations["helm.sh/hook-delete-policy"], "before-hook-creation") {
			t.Errorf("Job %s: without hook-delete-policy before-hook-creation the next upgrade cannot recreate it", name)
		}
		spec := j.Spec.Template.Spec
		if spec.RestartPolicy != corev1.RestartPolicyNever && spec.RestartPolicy != corev1.RestartPolicyOnFailure {
			t.Errorf("Job %s restart policy %q", name, spec.RestartPolicy)
		}
		if j.Spec.ActiveDeadlineSeconds == nil {
			t.Errorf("Job %s has no deadline: a hung migration would block the release forever", name)
		}
		for _, c := range spec.Containers {
			where := "Job " + name + " container " + c.Name
			checkContainerBasics(t, where, spec, c)
			if cmd := strings.Join(append(slices.Clone(c.Command), c.Args...), " "); !strings.HasSuffix(cmd, "logpipectl migrate") {
				t.Errorf("%s runs %q; want logpipectl migrate", where, cmd)
			}
			if len(c.EnvFrom) > 0 {
				t.Errorf("%s reads envFrom ConfigMaps, which do not exist yet at pre-install", where)
			}
			env := map[string]bool{}
			for _, e := range c.Env {
				env[e.Name] = true
			}
			for _, want := range []string{"LOGPIPE_CLICKHOUSE_ADDR", "LOGPIPE_CLICKHOUSE_DATABASE", "LOGPIPE_CLICKHOUSE_USER", "LOGPIPE_CLICKHOUSE_PASSWORD", "LOGPIPE_SCHEMA_VARIANT"} {
				if !env[want] {
					t.Errorf("%s: %s not set", where, want)
				}
			}
		}
		for _, ref := range secretRefs(spec) {
			so, isHook := r.hooks["Secret/"+ref.name]
			if _, rendered := r.secrets[ref.name]; rendered && !isHook {
				t.Errorf("Job %s reads Secret %s, an ordinary release object that does not exist yet when the pre-install hook runs", name, ref.name)
				continue
			}
			if isHook {
				if !reflect.DeepEqual(hookEvents(so), hookEvents(o)) {
					t.Errorf("hook Secret %s runs on %v, the Job on %v", ref.name, hookEvents(so), hookEvents(o))
				}
				if hookWeight(t, so) >= hookWeight(t, o) {
					t.Errorf("hook Secret %s has weight %d, not below the Job's %d: it may not exist when the Job starts", ref.name, hookWeight(t, so), hookWeight(t, o))
				}
			}
		}
	}
	for key, o := range r.hooks {
		if o.Kind != "Job" && o.Kind != "Secret" {
			t.Errorf("%s is a hook; only the migration Job and its Secret should be", key)
		}
	}
	for name := range r.deployments {
		if _, ok := r.hooks["Deployment/"+name]; ok {
			t.Errorf("Deployment %s is a hook: it would not wait for the migration", name)
		}
	}
}

// checkAutoscaling: ingest and query scale with an HPA on their Deployment
// (which then leaves replicas to the HPA); the consumer does not autoscale.
func checkAutoscaling(t *testing.T, r *release) {
	scaled := map[string]bool{}
	for _, h := range r.hpas {
		ref := h.Spec.ScaleTargetRef
		d := r.deployments[ref.Name]
		if ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" || d == nil {
			t.Errorf("HPA %s targets %s %s/%s, not a rendered Deployment", h.Name, ref.APIVersion, ref.Kind, ref.Name)
			continue
		}
		scaled[componentOf(d)] = true
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 1 || *h.Spec.MinReplicas > h.Spec.MaxReplicas {
			t.Errorf("HPA %s: min %v, max %d", h.Name, h.Spec.MinReplicas, h.Spec.MaxReplicas)
		}
		if len(h.Spec.Metrics) == 0 {
			t.Errorf("HPA %s has no metric", h.Name)
		}
		if d.Spec.Replicas != nil {
			t.Errorf("Deployment %s sets replicas although HPA %s owns them (every upgrade would reset the scale)", d.Name, h.Name)
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			if _, ok := c.Resources.Requests[corev1.ResourceCPU]; !ok {
				t.Errorf("Deployment %s container %s: no CPU request for the HPA's utilisation target", d.Name, c.Name)
			}
		}
	}
	for _, c := range []string{"ingest", "query"} {
		if on, _ := r.value(c + ".autoscaling.enabled").(bool); on != scaled[c] {
			t.Errorf("%s.autoscaling.enabled=%v but an HPA for it rendered: %v", c, on, scaled[c])
		}
	}
	if scaled["consumer"] {
		t.Errorf("the consumer has an HPA: its replicas are bounded by the partition count")
	}
}

// checkPDBs: every Deployment has exactly one PodDisruptionBudget selecting its pods.
func checkPDBs(t *testing.T, r *release) {
	for _, d := range r.deployments {
		n := 0
		for _, p := range r.pdbs {
			if p.Spec.Selector != nil && selects(p.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
				n++
				if p.Spec.MinAvailable == nil && p.Spec.MaxUnavailable == nil {
					t.Errorf("PDB %s sets neither minAvailable nor maxUnavailable", p.Name)
				}
			}
		}
		if n != 1 {
			t.Errorf("Deployment %s has %d PodDisruptionBudgets; want 1", d.Name, n)
		}
	}
}

// checkConsumerReplicas: the consumer group has no more members than the logs
// topic has partitions (the rendered count, against the values used).
func checkConsumerReplicas(t *testing.T, r *release) {
	d := r.deploymentOf(t, "consumer")
	if d.Spec.Replicas == nil {
		t.Fatal("the consumer Deployment does not set its replicas")
	}
	const key = "logpipe.io/logs-topic-partitions"
	partitions, err := strconv.Atoi(d.Annotations[key])
	if err != nil {
		t.Fatalf("consumer Deployment annotation %s=%q: %v", key, d.Annotations[key], err)
	}
	if want, _ := r.value("kafka.logsTopicPartitions").(float64); int(want) != partitions {
		t.Errorf("the consumer is annotated with %d partitions; the values say %v", partitions, want)
	}
	if want, _ := r.value("consumer.replicas").(float64); int(want) != int(*d.Spec.Replicas) {
		t.Errorf("the consumer runs %d replicas; the values say %v", *d.Spec.Replicas, want)
	}
	if int(*d.Spec.Replicas) > partitions {
		t.Errorf("consumer replicas %d exceed the %d partitions of the logs topic", *d.Spec.Replicas, partitions)
	}
}

func checkDashboardConfigMap(t *testing.T, r *release) {
	for name, cm := range r.configMaps {
		for key, data := range cm.Data {
			if strings.HasSuffix(key, ".json") && !json.Valid([]byte(data)) {
				t.Errorf("ConfigMap %s key %s is not valid JSON", name, key)
			}
		}
	}
}

func checkServiceMonitor(t *testing.T, r *release) {
	var sm map[string]any
	for key, m := range r.custom {
		if strings.HasPrefix(key, "ServiceMonitor/") {
			sm = m
		}
	}
	if sm == nil {
		t.Fatal("metrics.serviceMonitor.enabled=true renders no ServiceMonitor")
	}
	var typed struct {
		Metadata struct {
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
		Spec struct {
			Selector struct {
				MatchLabels      map[string]string `json:"matchLabels"`
				MatchExpressions []struct {
					Key      string   `json:"key"`
					Operator string   `json:"operator"`
					Values   []string `json:"values"`
				} `json:"matchExpressions"`
			} `json:"selector"`
			Endpoints []struct {
				Port string `json:"port"`
				Path string `json:"path"`
			} `json:"endpoints"`
		} `json:"spec"`
	}
	b, _ := json.Marshal(sm)
	if err := json.Unmarshal(b, &typed); err != nil {
		t.Fatal(err)
	}
	if typed.Metadata.Labels["release"] != "prom" {
		t.Errorf("ServiceMonitor labels %v miss the configured release=prom", typed.Metadata.Labels)
	}
	selected := 0
	for _, s := range r.services {
		if !selects(typed.Spec.Selector.MatchLabels, s.Labels) {
			continue
		}
		in := true
		for _, e := range typed.Spec.Selector.MatchExpressions {
			in = in && e.Operator == "In" && slices.Contains(e.Values, s.Labels[e.Key])
		}
		if !in {
			continue
		}
		selected++
		for _, ep := range typed.Spec.Endpoints {
			if !slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == ep.Port }) {
				t.Errorf("ServiceMonitor endpoint port %q is not a port of Service %s", ep.Port, s.Name)
			}
			if ep.Path != "/metrics" {
				t.Errorf("ServiceMonitor scrapes %q; want /metrics", ep.Path)
			}
		}
	}
	if selected != 3 {
		t.Errorf("ServiceMonitor selects %d Services; want the 3 services", selected)
	}
}

func checkPrometheusRule(t *testing.T, r *release) {
	var pr map[string]any
	for key, m := range r.custom {
		if strings.HasPrefix(key, "PrometheusRule/") {
			pr = m
		}
	}
	if pr == nil {
		t.Fatal("metrics.prometheusRule.enabled=true renders no PrometheusRule")
	}
	file := loadRules(t)
	spec, _ := pr["spec"].(map[string]any)
	b1, _ := json.Marshal(spec["groups"])
	b2, _ := json.Marshal(file.Groups)
	var g1, g2 any
	_ = json.Unmarshal(b1, &g1)
	_ = json.Unmarshal(b2, &g2)
	if !reflect.DeepEqual(g1, g2) {
		t.Errorf("PrometheusRule groups differ from files/prometheus-rules.yaml:\n%s\n%s", b1, b2)
	}
	var rulesCM *corev1.ConfigMap
	for name, cm := range r.configMaps {
		if strings.HasSuffix(name, "-prometheus-rules") {
			rulesCM = cm
		}
	}
	if rulesCM == nil {
		t.Fatal("metrics.rulesConfigMap.enabled=true renders no rules ConfigMap")
	}
	var fromCM rulesFile
	for _, data := range rulesCM.Data {
		if err := yaml.UnmarshalStrict([]byte(data), &fromCM); err != nil {
			t.Fatalf("rules ConfigMap: %v", err)
		}
	}
	if !reflect.DeepEqual(fromCM, file) {
		t.Errorf("rules ConfigMap differs from files/prometheus-rules.yaml")
	}
}

// TestPodsRollOnSettingsChange: a changed setting or password rolls every
// Deployment (a checksum in the pod template); a changed key registry rolls
// none, because the services reload it from the mounted Secret.
func TestPodsRollOnSettingsChange(t *testing.T) {
	podAnnotations := func(extra ...string) map[string]map[string]string {
		t.Helper()
		out := map[string]map[string]string{}
		for name, d := range loadRelease(t, defaults, extra...).deployments {
			out[name] = d.Spec.Template.Annotations
		}
		return out
	}
	base := podAnnotations()
	keysFile := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(keysFile, []byte(`{"organisations":[{"id":"o","plan":"developer"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		extra []string
		roll  bool
	}{
		{"log level", []string{"--set", "logLevel=debug"}, true},
		{"ClickHouse password", []string{"--set", "clickhouse.password=s3cret"}, true},
		{"SASL password", []string{"--set", "kafka.sasl.password=s3cret"}, true},
		{"signing keys", []string{"--set", "secrets.signingKeys=k2:0123456789abcdef0123\\,k1:0123456789abcdef"}, true},
		{"key registry", []string{"--set-file", "secrets.keysJSON=" + keysFile}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := podAnnotations(tc.extra...)
			for name, ann := range got {
				if rolled := !reflect.DeepEqual(ann, base[name]); rolled != tc.roll {
					t.Errorf("Deployment %s: pods roll: %v; want %v (annotations %v, before %v)", name, rolled, tc.roll, ann, base[name])
				}
			}
		})
	}
}

// checkNamesAndLabels: every object name, label and annotation key is one
// the API server accepts (Services and container names are DNS labels, port
// names IANA service names), however long the release name.
func checkNamesAndLabels(t *testing.T, r *release) {
	meta := func(kind, name string, labels, annotations map[string]string) {
		errs := validation.IsDNS1123Subdomain(name)
		if kind == "Service" {
			errs = validation.IsDNS1035Label(name)
		}
		for _, e := range errs {
			t.Errorf("%s name %q: %s", kind, name, e)
		}
		for k, v := range labels {
			for _, e := range append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...) {
				t.Errorf("%s %s label %s=%s: %s", kind, name, k, v, e)
			}
		}
		for k := range annotations {
			for _, e := range validation.IsQualifiedName(k) {
				t.Errorf("%s %s annotation %s: %s", kind, name, k, e)
			}
		}
	}
	pod := func(where string, spec corev1.PodSpec) {
		for _, c := range spec.Containers {
			for _, e := range validation.IsDNS1123Label(c.Name) {
				t.Errorf("%s container %q: %s", where, c.Name, e)
			}
			for _, p := range c.Ports {
				for _, e := range validation.IsValidPortName(p.Name) {
					t.Errorf("%s port %q: %s", where, p.Name, e)
				}
			}
		}
	}
	for _, d := range r.deployments {
		meta("Deployment", d.Name, d.Labels, d.Annotations)
		meta("Deployment pod", d.Name, d.Spec.Template.Labels, d.Spec.Template.Annotations)
		pod("Deployment "+d.Name, d.Spec.Template.Spec)
	}
	for _, j := range r.jobs {
		meta("Job", j.Name, j.Labels, j.Annotations)
		pod("Job "+j.Name, j.Spec.Template.Spec)
	}
	for _, s := range r.services {
		meta("Service", s.Name, s.Labels, s.Annotations)
		for _, p := range s.Spec.Ports {
			for _, e := range validation.IsValidPortName(p.Name) {
				t.Errorf("Service %s port %q: %s", s.Name, p.Name, e)
			}
		}
	}
	for _, o := range r.configMaps {
		meta("ConfigMap", o.Name, o.Labels, o.Annotations)
		for k := range o.Data {
			for _, e := range validation.IsConfigMapKey(k) {
				t.Errorf("ConfigMap %s key %s: %s", o.Name, k, e)
			}
		}
	}
	for _, o := range r.secrets {
		meta("Secret", o.Name, o.Labels, o.Annotations)
	}
	for _, o := range r.hpas {
		meta("HorizontalPodAutoscaler", o.Name, o.Labels, o.Annotations)
	}
	for _, o := range r.pdbs {
		meta("PodDisruptionBudget", o.Name, o.Labels, o.Annotations)
	}
	for _, o := range r.ingresses {
		meta("Ingress", o.Name, o.Labels, o.Annotations)
	}
	for _, o := range r.pvcs {
		meta("PersistentVolumeClaim", o.Name, o.Labels, o.Annotations)
	}
	for _, o := range r.accounts {
		meta("ServiceAccount", o.Name, o.Labels, o.Annotations)
	}
}

// TestLongReleaseName renders the chart under the longest release name Helm
// allows (53 characters): every name still fits.
func TestLongReleaseName(t *testing.T) {
	long := strings.Repeat("a", 20) + "-" + strings.Repeat("b", 32)
	args := []string{"template", long, chartDir(t), "--kube-version", kubeVersion,
		"--set", "metrics.rulesConfigMap.enabled=true", "--set", "metrics.serviceMonitor.enabled=true"}
	out, stderr, err := runHelm(t, args...)
	if err != nil {
		t.Fatalf("helm template with a 53-character release name: %v\n%s", err, stderr)
	}
	r := decodeRelease(t, splitManifests(t, out))
	checkNamesAndLabels(t, r)
	if len(r.deployments) != 3 || len(r.services) != 3 {
		t.Errorf("%d Deployments and %d Services; want 3 each", len(r.deployments), len(r.services))
	}
}
