package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// servers is the run's own ClickHouse and Kafka, started by scripts/stack.sh
// in the run's stack directory on the run's ports, so the run can kill them.
type servers struct {
	repo, dir string
	env       []string
}

func newServers(repo, dir string, base int) *servers {
	env := append(os.Environ(),
		"LOGPIPE_STACK_DIR="+dir,
		"LOGPIPE_CH_PORT="+strconv.Itoa(base), "LOGPIPE_CH_HTTP_PORT="+strconv.Itoa(base+1),
		"LOGPIPE_CH_INTERSERVER_PORT="+strconv.Itoa(base+2),
		"LOGPIPE_KAFKA_PORT="+strconv.Itoa(base+3), "LOGPIPE_KAFKA_CONTROLLER_PORT="+strconv.Itoa(base+4),
	)
	return &servers{repo: repo, dir: dir, env: env}
}

// stack runs scripts/stack.sh cmd, for only the named servers when given.
func (s *servers) stack(cmd string, only ...string) error {
	c := exec.Command(filepath.Join(s.repo, "scripts/stack.sh"), cmd)
	c.Env = s.env
	if len(only) > 0 {
		c.Env = append(append([]string(nil), s.env...), "LOGPIPE_STACK_SERVICES="+strings.Join(only, " "))
	}
	out, err := c.CombinedOutput()
	if err != nil {
		return fmt.Errorf("stack.sh %s %v: %w\n%s", cmd, only, err, out)
	}
	return nil
}

// pid reads the pid file of server (clickhouse or kafka).
func (s *servers) pid(server string) (int, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, server+".pid"))
	if err != nil {
		return 0, fmt.Errorf("pid of %s: %w", server, err)
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// signal sends sig to server.
func (s *servers) signal(server string, sig syscall.Signal) (int, error) {
	pid, err := s.pid(server)
	if err != nil {
		return 0, err
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return 0, fmt.Errorf("signal %s (pid %d): %w", server, pid, err)
	}
	return pid, nil
}

// waitGone waits until pid has exited, sending SIGKILL after grace.
func waitGone(pid int, grace time.Duration) {
	deadline := time.Now().Add(grace)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			deadline = time.Now().Add(time.Hour)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// service is one of the three logpipe processes, supervised: when it exits
// without being told to, it is counted and started again (as `make up` does).
type service struct {
	name, bin, addr, logFile string
	env                      []string
	logw                     io.Writer

	mu        sync.Mutex
	cur       *proc
	gen       int  // processes started so far
	unplanned int  // exits nobody asked for
	stopped   bool // the run is over
}

// proc is one process of a service.
type proc struct {
	cmd      *exec.Cmd
	done     chan struct{}
	expected bool // the run stopped it on purpose
}

// start runs a new process of the service and waits until it answers
// /healthz.
func (s *service) start() error {
	if _, err := s.spawn(-1); err != nil {
		return err
	}
	return s.waitHealthy(90 * time.Second)
}

// spawn starts a process unless ifGen >= 0 and another process was started
// since generation ifGen (a restart already happened).
func (s *service) spawn(ifGen int) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped || (ifGen >= 0 && s.gen != ifGen) {
		return false, nil
	}
	f, err := os.OpenFile(s.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return false, err
	}
	cmd := exec.Command(s.bin)
	cmd.Env, cmd.Stdout, cmd.Stderr = s.env, f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return false, fmt.Errorf("start %s: %w", s.name, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	s.cur = p
	s.gen++
	gen := s.gen
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(p.done)
		s.mu.Lock()
		restart := !p.expected && !s.stopped
		if restart {
			s.unplanned++
		}
		s.mu.Unlock()
		if !restart {
			return
		}
		fmt.Fprintf(s.logw, "  ! %s exited on its own (%s); restarting it\n", s.name, cmd.ProcessState)
		time.Sleep(time.Second)
		if _, err := s.spawn(gen); err != nil {
			fmt.Fprintf(s.logw, "  ! restart of %s failed: %v\n", s.name, err)
		}
	}()
	return true, nil
}

func (s *service) waitHealthy(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + s.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not healthy after %s (log %s)", s.name, timeout, s.logFile)
}

// stop sends sig to the current process and waits for it to exit (SIGKILL
// after 60 s). It reports a SIGTERM that did not end in a clean exit.
func (s *service) stop(sig syscall.Signal) error {
	_, err := s.stopCurrent(sig)
	return err
}

// stopCurrent is stop; it returns the generation that was stopped.
func (s *service) stopCurrent(sig syscall.Signal) (int, error) {
	s.mu.Lock()
	p, gen := s.cur, s.gen
	if p != nil {
		p.expected = true
	}
	s.mu.Unlock()
	if p == nil {
		return gen, nil
	}
	return gen, s.stopProc(p, sig)
}

func (s *service) stopProc(p *proc, sig syscall.Signal) error {
	select {
	case <-p.done:
		return nil // it had exited already (and is being restarted)
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within 60s of %s", s.name, sig)
	}
	if sig == syscall.SIGTERM && !p.cmd.ProcessState.Success() {
		return fmt.Errorf("%s exited with %s after SIGTERM; want a clean drain (log %s)", s.name, p.cmd.ProcessState, s.logFile)
	}
	return nil
}

// restart stops the service with sig and starts it again. Should its
// supervisor have started a process meanwhile (the stopped one had exited on
// its own), that one is stopped too: one process at a time.
func (s *service) restart(sig syscall.Signal) error {
	for {
		gen, err := s.stopCurrent(sig)
		if err != nil {
			return err
		}
		started, err := s.spawn(gen)
		if err != nil {
			return err
		}
		if started {
			return s.waitHealthy(90 * time.Second)
		}
	}
}

// shutdown stops the service for good at the end of the run.
func (s *service) shutdown() error {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	return s.stop(syscall.SIGTERM)
}

// build compiles the services and logpipectl from the repository into dir.
func build(ctx context.Context, repo, dir string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+"/",
		"./services/ingest", "./services/consumer", "./services/query", "./services/lib/cmd/logpipectl")
	cmd.Dir = repo
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build: %w\n%s", err, out)
	}
	return nil
}

// newKey registers an enterprise admin key for the run's workspace.
func newKey(bin, keysFile, org, workspace string) (string, error) {
	out, err := exec.Command(bin, "key", "-keys-file", keysFile, "-org", org, "-workspace", workspace,
		"-role", "admin", "-plan", "enterprise").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("logpipectl key: %w\n%s", err, ee.Stderr)
		}
		return "", fmt.Errorf("logpipectl key: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}
