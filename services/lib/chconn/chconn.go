// Package chconn opens ClickHouse connections over the native protocol, the
// only one that works with every server we support (18.16 and current).
package chconn

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"logpipe/lib/envflag"
)

// Config addresses a ClickHouse server.
type Config struct {
	// Addr is host:port of the native protocol (default 127.0.0.1:9000).
	Addr string
	// Database is the database the services use (default logpipe).
	Database string
	// User and Password authenticate (default "default", empty).
	User     string
	Password string
	// MaxOpenConns bounds the pool (default 16).
	MaxOpenConns int
}

// Open connects to cfg.Database, creating it first when create is true, and
// pings the server.
func Open(ctx context.Context, cfg Config, create bool) (driver.Conn, error) {
	if create {
		c, err := dial(ctx, cfg, "default")
		if err != nil {
			return nil, err
		}
		err = c.Exec(ctx, "CREATE DATABASE IF NOT EXISTS `"+cfg.Database+"`")
		c.Close()
		if err != nil {
			return nil, fmt.Errorf("create database %s: %w", cfg.Database, err)
		}
	}
	return dial(ctx, cfg, cfg.Database)
}

func dial(ctx context.Context, cfg Config, database string) (driver.Conn, error) {
	maxOpen := cfg.MaxOpenConns
	if maxOpen == 0 {
		maxOpen = 16
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Protocol:     clickhouse.Native,
		Addr:         []string{cfg.Addr},
		Auth:         clickhouse.Auth{Database: database, Username: cfg.User, Password: cfg.Password},
		DialTimeout:  5 * time.Second,
		MaxOpenConns: maxOpen,
		MaxIdleConns: maxOpen,
	})
	if err != nil {
		return nil, fmt.Errorf("open clickhouse %s: %w", cfg.Addr, err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := conn.Ping(pctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("ping clickhouse %s/%s: %w", cfg.Addr, database, err)
	}
	return conn, nil
}

// RegisterFlags defines the shared ClickHouse flags on fs, filling cfg.
func RegisterFlags(fs *envflag.Set, cfg *Config) {
	fs.String(&cfg.Addr, "clickhouse-addr", "LOGPIPE_CLICKHOUSE_ADDR", "127.0.0.1:9000", "ClickHouse native protocol address")
	fs.String(&cfg.Database, "clickhouse-database", "LOGPIPE_CLICKHOUSE_DATABASE", "logpipe", "ClickHouse database")
	fs.String(&cfg.User, "clickhouse-user", "LOGPIPE_CLICKHOUSE_USER", "default", "ClickHouse user")
	fs.String(&cfg.Password, "clickhouse-password", "LOGPIPE_CLICKHOUSE_PASSWORD", "", "ClickHouse password")
	fs.Int(&cfg.MaxOpenConns, "clickhouse-max-conns", "LOGPIPE_CLICKHOUSE_MAX_CONNS", 16, "ClickHouse connection pool size")
}
