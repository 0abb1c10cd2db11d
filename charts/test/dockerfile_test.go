package charttest

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction with its continuation lines joined.
type instruction struct {
	Cmd  string // upper-case: FROM, RUN, COPY, ...
	Args string
}

func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []instruction
	var cur strings.Builder
	for _, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args)})
		cur.Reset()
	}
	return out
}

// TestDockerfiles checks each service image against the chart that runs it:
// a multi-stage build of a static binary of that service onto a distroless
// (or scratch) base, a numeric non-root user (so runAsNonRoot can verify it),
// the port the chart probes, and logpipectl in the query image for the
// migration Job.
func TestDockerfiles(t *testing.T) {
	r := loadRelease(t, defaults)
	root := repoRoot(t)
	for _, s := range services {
		t.Run(s, func(t *testing.T) {
			ins := parseDockerfile(t, filepath.Join(root, "services", s, "Dockerfile"))
			var froms []string
			var final []instruction
			for _, in := range ins {
				if in.Cmd == "FROM" {
					froms = append(froms, in.Args)
					final = nil
				}
				final = append(final, in)
			}
			if len(froms) < 2 {
				t.Fatalf("FROM %v: want a multi-stage build", froms)
			}
			base := strings.Fields(froms[len(froms)-1])[0]
			if !strings.HasPrefix(base, "gcr.io/distroless/static") && base != "scratch" {
				t.Errorf("final stage FROM %s; want distroless static or scratch", base)
			}
			var built, copied []string
			var user, entry, expose string
			for _, in := range ins {
				if in.Cmd == "RUN" && strings.Contains(in.Args, "go build") {
					if !strings.Contains(in.Args, "CGO_ENABLED=0") {
						t.Errorf("go build without CGO_ENABLED=0: the binary would not be static: %s", in.Args)
					}
					for _, f := range strings.Fields(in.Args) {
						if strings.HasPrefix(f, "./") {
							built = append(built, f)
						}
					}
				}
			}
			for _, in := range final {
				switch in.Cmd {
				case "COPY":
					f := strings.Fields(in.Args)
					copied = append(copied, f[len(f)-1])
				case "USER":
					user = in.Args
				case "ENTRYPOINT":
					entry = in.Args
				case "EXPOSE":
					expose = in.Args
				}
			}
			if !slices.Contains(built, "./services/"+s) {
				t.Errorf("builds %v; want ./services/%s", built, s)
			}
			for _, pkg := range built {
				if _, err := os.Stat(filepath.Join(root, pkg)); err != nil {
					t.Errorf("builds %s, which does not exist: %v", pkg, err)
				}
			}
			bin := "/usr/local/bin/" + s
			if !slices.Contains(copied, bin) || entry != `["`+bin+`"]` {
				t.Errorf("final stage copies %v and runs %s; want %s", copied, entry, bin)
			}
			uid, _, _ := strings.Cut(user, ":")
			if uid == "" || uid == "0" || strings.Trim(uid, "0123456789") != "" {
				t.Errorf("USER %q: want a numeric non-root user", user)
			}
			d := r.deploymentOf(t, s)
			c := d.Spec.Template.Spec.Containers[0]
			if want := c.Ports[0].ContainerPort; expose != strconv.Itoa(int(want)) {
				t.Errorf("EXPOSE %s; the chart's container port is %d", expose, want)
			}
			if user != "" && d.Spec.Template.Spec.SecurityContext != nil && d.Spec.Template.Spec.SecurityContext.RunAsUser != nil {
				if got := strconv.FormatInt(*d.Spec.Template.Spec.SecurityContext.RunAsUser, 10); got != uid {
					t.Errorf("image USER %s; the chart runs as %s", uid, got)
				}
			}
			if s == "query" {
				for _, j := range r.jobs {
					cmd := j.Spec.Template.Spec.Containers[0].Command
					if len(cmd) == 0 || !slices.Contains(copied, cmd[0]) {
						t.Errorf("the migration Job runs %v, which the query image does not contain (it copies %v)", cmd, copied)
					}
					if !slices.Contains(built, "./services/lib/cmd/logpipectl") {
						t.Errorf("the query image does not build logpipectl")
					}
				}
			}
		})
	}
}
