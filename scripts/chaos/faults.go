package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"syscall"
	"time"
)

// fault is one kind of failure the schedule injects; do injects it and
// returns once the system has what it needs to recover (the process or
// server is back).
type fault struct {
	name string
	do   func(ctx context.Context) error
}

// faults returns every kind of fault against the run's processes and servers.
func (r *runner) faults() []fault {
	kill := func(s *service) fault {
		return fault{"SIGKILL " + s.name, func(context.Context) error { return s.restart(syscall.SIGKILL) }}
	}
	term := func(s *service) fault {
		return fault{"SIGTERM " + s.name, func(context.Context) error { return s.restart(syscall.SIGTERM) }}
	}
	return []fault{
		kill(r.ingest), kill(r.consumer), kill(r.query),
		term(r.ingest), term(r.consumer), term(r.query),
		{"restart Kafka", func(context.Context) error {
			pid, err := r.servers.signal("kafka", syscall.SIGTERM)
			if err != nil {
				return err
			}
			waitGone(pid, 60*time.Second)
			return r.servers.stack("up", "kafka")
		}},
		{"SIGKILL ClickHouse", func(context.Context) error {
			pid, err := r.servers.signal("clickhouse", syscall.SIGKILL)
			if err != nil {
				return err
			}
			waitGone(pid, time.Minute)
			return r.servers.stack("up", "clickhouse")
		}},
		{"SIGSTOP ClickHouse", func(ctx context.Context) error {
			if _, err := r.servers.signal("clickhouse", syscall.SIGSTOP); err != nil {
				return err
			}
			// longer than the consumer's insert timeout and its watermark
			// reads: it must give up on the paused server and try again
			select {
			case <-time.After(r.cfg.Pause):
			case <-ctx.Done():
			}
			_, err := r.servers.signal("clickhouse", syscall.SIGCONT)
			return err
		}},
	}
}

// schedule is the order of the faults: every kind once per round, the
// consumer killed more often (it holds the most state), shuffled.
func (r *runner) schedule(rng *rand.Rand) []fault {
	all := r.faults()
	var out []fault
	for range r.cfg.Rounds {
		round := append([]fault(nil), all...)
		round = append(round, all[1], all[1]) // SIGKILL consumer, three times a round
		rng.Shuffle(len(round), func(i, j int) { round[i], round[j] = round[j], round[i] })
		out = append(out, round...)
	}
	return out
}

// inject runs the schedule with random gaps while the load runs, and
// returns the count of each fault injected.
func (r *runner) inject(ctx context.Context, rng *rand.Rand, w io.Writer) (map[string]int, error) {
	done := map[string]int{}
	start := time.Now()
	for _, f := range r.schedule(rng) {
		gap := r.cfg.Gap/2 + time.Duration(rng.Int64N(int64(r.cfg.Gap)))
		select {
		case <-ctx.Done():
			return done, ctx.Err()
		case <-time.After(gap):
		}
		fmt.Fprintf(w, "  %6.1fs  %s\n", time.Since(start).Seconds(), f.name)
		if err := f.do(ctx); err != nil {
			return done, fmt.Errorf("%s: %w", f.name, err)
		}
		done[f.name]++
	}
	return done, nil
}
