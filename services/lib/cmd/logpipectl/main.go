// Command logpipectl is the operator's tool: it applies the ClickHouse
// migrations, seals and rolls up finished days of logs at once (what the
// consumer does every minute; useful after a backfill) and manages API keys
// in the key registry file.
//
//	logpipectl migrate [-clickhouse-addr 127.0.0.1:9000] [-database logpipe] [-variant single|cluster]
//	logpipectl seal [-clickhouse-addr 127.0.0.1:9000] [-database logpipe]
//	logpipectl key -keys-file F -org O -workspace W -role admin|member -plan developer|production|enterprise
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"logpipe/lib/chconn"
	"logpipe/lib/envflag"
	"logpipe/lib/logevent"
	"logpipe/lib/migrate"
	"logpipe/lib/seal"
	"logpipe/lib/server"
	"logpipe/lib/tenant"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "logpipectl:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: logpipectl migrate|seal|key [flags]")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "migrate":
		fs := envflag.New("migrate")
		var cfg chconn.Config
		chconn.RegisterFlags(fs, &cfg)
		fs.StringVar(&cfg.Variant, "variant", cfg.Variant, "schema variant: single or cluster (same as -schema-variant)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if cfg.Variant != migrate.Single && cfg.Variant != migrate.Cluster {
			return fmt.Errorf("schema variant %q: want %s or %s", cfg.Variant, migrate.Single, migrate.Cluster)
		}
		conn, err := chconn.Open(ctx, cfg, true)
		if err != nil {
			return err
		}
		defer conn.Close()
		return migrate.Apply(ctx, conn, cfg.Variant, server.NewLogger("info"))
	case "seal":
		fs := envflag.New("seal")
		var cfg chconn.Config
		chconn.RegisterFlags(fs, &cfg)
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		conn, err := chconn.Open(ctx, cfg, false)
		if err != nil {
			return err
		}
		defer conn.Close()
		log := server.NewLogger("info")
		n, err := seal.NewJob(conn, logevent.LogsTable, time.Minute, log, prometheus.NewRegistry()).Once(ctx)
		if err != nil {
			return err
		}
		log.Info("sealing done", "partitions sealed", n)
		return nil
	case "key":
		fs := envflag.New("key")
		var path, org, ws, role, plan string
		fs.String(&path, "keys-file", "LOGPIPE_KEYS_FILE", ".stack/dev/keys.json", "key registry file")
		fs.String(&org, "org", "ORG", "", "organisation id (default: org-<workspace>)")
		fs.String(&ws, "workspace", "WORKSPACE", "demo", "workspace id")
		fs.String(&role, "role", "ROLE", "admin", "admin or member")
		fs.String(&plan, "plan", "PLAN", "production", "developer, production or enterprise")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if org == "" {
			org = "org-" + ws
		}
		plain, _, err := tenant.AddKey(path, org, ws, tenant.Role(role), tenant.Plan(plan))
		if err != nil {
			return err
		}
		fmt.Println(plain)
		return nil
	}
	return fmt.Errorf("unknown command %q: want migrate, seal or key", args[0])
}
