// Command consumer reads log events and feedback from Kafka as a consumer
// group and writes them into ClickHouse in batches, committing offsets only
// after the rows are stored; undecodable or invalid messages go to the
// dead-letter topic. It also runs the retention job and serves /healthz,
// /readyz and /metrics.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"logpipe/lib/server"
)

func main() {
	cfg, err := parseConfig(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "consumer:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	stopProfile, err := server.StartCPUProfile(cfg.CPUProfile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "consumer:", err)
		os.Exit(1)
	}
	err = run(ctx, cfg)
	if perr := stopProfile(); perr != nil {
		fmt.Fprintln(os.Stderr, "consumer:", perr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "consumer:", err)
		os.Exit(1)
	}
}
