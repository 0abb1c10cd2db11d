// Command query is the read side of the log pipeline: it serves a
// workspace's logs (listing, detail, share URLs), analytics graphs, groups
// and summaries, and log exports, from ClickHouse, behind API keys.
//
// main only wires: configuration from flags and LOGPIPE_* environment
// variables (Config, defaults in defaultConfig), then run.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/gin-gonic/gin"

	"logpipe/lib/chconn"
	"logpipe/lib/envflag"
	"logpipe/lib/migrate"
	"logpipe/lib/server"
	"logpipe/lib/signing"
	"logpipe/lib/tenant"
	"logpipe/query/api"
	"logpipe/query/console"
	"logpipe/query/export"
	"logpipe/query/savedfilter"
	"logpipe/query/store"
)

// Config is the query service's whole configuration.
type Config struct {
	// Addr is the HTTP listen address (default 127.0.0.1:8081).
	Addr string
	// KeysFile is the API key registry (default .stack/dev/keys.json), reloaded when it changes.
	KeysFile string
	// PublicURL is the one base URL of the API, used in share URLs (default http://127.0.0.1:8000).
	PublicURL string
	// SigningKeys are the HMAC keys of share URLs and export download URLs:
	// "id:secret[,id:secret...]", the current key first, then previous keys
	// whose links should keep working (see package signing). Required unless
	// DevMode.
	SigningKeys string
	// DevMode allows starting without SigningKeys, signing with a public,
	// insecure development key (default false; `make up` sets it).
	DevMode bool
	// ShareTTL is how long a share URL opens its log (default 720h, 30 days).
	ShareTTL time.Duration
	// Migrate applies the ClickHouse migrations at start (default true).
	Migrate bool
	// LogLevel is debug, info, warn or error (default info).
	LogLevel string
	// ShutdownDelay is how long /readyz answers 503 before the listener closes (default 0).
	ShutdownDelay time.Duration
	// QueryTimeout bounds the ClickHouse work of one request (default 30s).
	QueryTimeout time.Duration
	// MaxQueryMemory bounds each ClickHouse query's memory (default 1 GiB).
	MaxQueryMemory int
	// ClickHouse addresses the store.
	ClickHouse chconn.Config
	// Export configures log exports (LOGPIPE_EXPORT_*; see package export).
	Export export.Config
}

func parseConfig(args []string) (Config, error) {
	var cfg Config
	fs := envflag.New("query")
	fs.String(&cfg.Addr, "addr", "LOGPIPE_QUERY_ADDR", "127.0.0.1:8081", "HTTP listen address")
	fs.String(&cfg.KeysFile, "keys-file", "LOGPIPE_KEYS_FILE", ".stack/dev/keys.json", "API key registry file")
	fs.String(&cfg.PublicURL, "public-url", "LOGPIPE_PUBLIC_URL", "http://127.0.0.1:8000", "the one base URL of the API (share URLs)")
	fs.String(&cfg.SigningKeys, "signing-keys", "LOGPIPE_SIGNING_KEYS", "", "HMAC keys of share and download URLs: id:secret[,id:secret...], current first (required unless -dev)")
	fs.Bool(&cfg.DevMode, "dev", "LOGPIPE_DEV_MODE", false, "development mode: allow an insecure public signing key when no signing keys are set")
	fs.Duration(&cfg.ShareTTL, "share-ttl", "LOGPIPE_SHARE_TTL", 30*24*time.Hour, "how long a share URL opens its log")
	fs.Bool(&cfg.Migrate, "migrate", "LOGPIPE_MIGRATE", true, "apply ClickHouse migrations at start")
	fs.String(&cfg.LogLevel, "log-level", "LOGPIPE_LOG_LEVEL", "info", "log level: debug, info, warn, error")
	fs.Duration(&cfg.ShutdownDelay, "shutdown-delay", "LOGPIPE_SHUTDOWN_DELAY", 0, "time /readyz answers 503 before the listener closes")
	fs.Duration(&cfg.QueryTimeout, "query-timeout", "LOGPIPE_QUERY_TIMEOUT", 30*time.Second, "ClickHouse time budget of one request")
	fs.Int(&cfg.MaxQueryMemory, "query-max-memory-bytes", "LOGPIPE_QUERY_MAX_MEMORY_BYTES", 1<<30, "ClickHouse memory budget of one query, bytes (503 beyond)")
	chconn.RegisterFlags(fs, &cfg.ClickHouse)
	export.RegisterFlags(fs, &cfg.Export)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

// Validate checks cfg before anything starts.
func (cfg Config) Validate() error {
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return fmt.Errorf("addr %q: %w", cfg.Addr, err)
	}
	u, err := url.Parse(cfg.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("public URL %q: want an absolute http(s) URL", cfg.PublicURL)
	}
	if cfg.KeysFile == "" {
		return errors.New("keys file is required")
	}
	if cfg.SigningKeys == "" && !cfg.DevMode {
		return errors.New("signing keys are required (LOGPIPE_SIGNING_KEYS=id:secret[,id:secret...]); start with -dev (LOGPIPE_DEV_MODE=1) to use an insecure development key")
	}
	if cfg.SigningKeys != "" {
		if _, err := signing.Parse(cfg.SigningKeys); err != nil {
			return fmt.Errorf("signing keys: %w", err)
		}
	}
	if cfg.ShareTTL <= 0 {
		return errors.New("share TTL must be positive")
	}
	if cfg.ShutdownDelay < 0 || cfg.QueryTimeout <= 0 {
		return errors.New("shutdown delay must be >= 0 and query timeout > 0")
	}
	if cfg.ClickHouse.Addr == "" || cfg.ClickHouse.Database == "" {
		return errors.New("clickhouse address and database are required")
	}
	return nil
}

func main() {
	cfg, err := parseConfig(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "query: configuration:", err)
		os.Exit(2)
	}
	log := server.NewLogger(cfg.LogLevel)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("query service failed", "err", err)
		os.Exit(1)
	}
}

// app is the wired service, before it serves.
type app struct {
	cfg    Config
	log    *slog.Logger
	conn   driver.Conn
	engine *gin.Engine
	health *server.Health
	// background is closed when the background work (exports) has stopped,
	// after ctx ended: running exports release their jobs through conn first.
	background chan struct{}
}

// run serves until ctx ends, then drains, lets running exports release their
// jobs, and closes ClickHouse.
func run(ctx context.Context, cfg Config, log *slog.Logger) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a, err := newApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.conn.Close()
	defer func() { cancel(); <-a.background }()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Addr, err)
	}
	return server.Serve(ctx, log, ln, a.engine, a.health, server.ServeOptions{ShutdownDelay: cfg.ShutdownDelay})
}

// newApp connects, migrates and wires every route; background work (key
// registry reloads, exports) runs until ctx ends. The caller closes a.conn.
func newApp(ctx context.Context, cfg Config, log *slog.Logger) (*app, error) {
	keyring := signing.DevKeyring()
	if cfg.SigningKeys != "" {
		k, err := signing.Parse(cfg.SigningKeys)
		if err != nil {
			return nil, fmt.Errorf("signing keys: %w", err)
		}
		keyring = k
	} else {
		log.Warn("development mode without LOGPIPE_SIGNING_KEYS: share and download URLs are signed with a PUBLIC key and can be forged; never run so in production")
	}
	conn, err := chconn.OpenWait(ctx, cfg.ClickHouse, cfg.Migrate, log)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*app, error) { conn.Close(); return nil, err }
	if cfg.Migrate {
		if err := migrate.Apply(ctx, conn, cfg.ClickHouse.Variant, log); err != nil {
			return fail(fmt.Errorf("migrate: %w", err))
		}
	}
	keys, err := tenant.Open(cfg.KeysFile)
	if err != nil {
		return fail(err)
	}
	go keys.Watch(ctx, 2*time.Second, log)

	reg := server.NewRegistry()
	engine, health := server.NewEngine(log, reg, func(ctx context.Context) error { return conn.Ping(ctx) },
		server.WithPanics(server.NewPanics(reg, "query", log)))
	handlers := api.New(store.New(conn), keys, api.Config{
		PublicURL: cfg.PublicURL, Keys: keyring, ShareTTL: cfg.ShareTTL, QueryTimeout: cfg.QueryTimeout, MaxQueryMemory: int64(cfg.MaxQueryMemory),
	}, log, reg)
	engine.Use(handlers.Instrument())
	authed := engine.Group("/", tenant.Authenticate(keys))
	handlers.Register(authed)
	savedfilter.New(conn, log).Register(authed)
	page, err := console.New()
	if err != nil {
		return fail(fmt.Errorf("console: %w", err))
	}
	page.Register(engine)

	// exports: wired by services/query/export
	ecfg := cfg.Export
	ecfg.PublicURL, ecfg.Keys = cfg.PublicURL, keyring
	exports, err := export.New(ecfg, conn, reg, log)
	if err != nil {
		return fail(err)
	}
	exports.Register(authed, engine)
	background := make(chan struct{})
	go func() { exports.Run(ctx); close(background) }()

	return &app{cfg: cfg, log: log, conn: conn, engine: engine, health: health, background: background}, nil
}
