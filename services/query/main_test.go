package main

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"logpipe/lib/chconn"
	"logpipe/lib/logevent"
	"logpipe/lib/openapicheck"
	"logpipe/lib/tenant"
	"logpipe/lib/testenv"
)

func testConfig(t *testing.T) (Config, string) {
	t.Helper()
	ch, _ := testenv.ClickHouse(t)
	keys := filepath.Join(t.TempDir(), "keys.json")
	key, _, err := tenant.AddKey(keys, "org1", "ws1", tenant.RoleAdmin, tenant.PlanProduction)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := parseConfig([]string{"-addr", testenv.FreeAddr(t), "-keys-file", keys,
		"-clickhouse-addr", ch.Addr, "-clickhouse-database", ch.Database, "-export-dir", t.TempDir(),
		"-signing-keys", "k1:main-test-signing-key-0123"})
	if err != nil {
		t.Fatal(err)
	}
	return cfg, key
}

func TestRoutesMatchOpenAPI(t *testing.T) {
	cfg, _ := testConfig(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := newApp(ctx, cfg, testenv.Logger())
	if err != nil {
		t.Fatal(err)
	}
	defer a.conn.Close()
	openapicheck.Check(t, "query", a.engine.Routes())
}

func TestConfigValidation(t *testing.T) {
	for _, args := range [][]string{
		{"-addr", "nohostport"},
		{"-public-url", "not a url"},
		{"-public-url", "ftp://x"},
		{"-query-timeout", "0s"},
		{"-keys-file", ""},
		{"-signing-keys", ""},         // no key and not in development mode
		{"-signing-keys", "k1:short"}, // a secret too short to be a key
		{"-signing-keys", "k1:0123456789abcdefgh", "-share-ttl", "0s"},
	} {
		if _, err := parseConfig(args); err == nil {
			t.Errorf("%v: want a configuration error", args)
		}
	}
}

func TestDevModeStartsWithoutSigningKeys(t *testing.T) {
	if _, err := parseConfig([]string{"-signing-keys", "", "-dev"}); err != nil {
		t.Fatalf("development mode without keys: %v", err)
	}
	if _, err := parseConfig([]string{"-signing-keys", "k2:0123456789abcdefgh,k1:0123456789abcdefgh"}); err != nil {
		t.Fatalf("two keys: %v", err)
	}
}

// TestRunServesAndDrains runs the service as main does: it lists a seeded
// log behind its key, reports ready, and returns cleanly when stopped.
func TestRunServesAndDrains(t *testing.T) {
	cfg, key := testConfig(t)
	e := logevent.New()
	e.ID, e.OrganisationID, e.WorkspaceID = logevent.NewID(), "org1", "ws1"
	e.CreatedAt = logevent.MillisOf(time.Now())
	e.RetentionDays = 30
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, testenv.Logger()) }()
	base := "http://" + cfg.Addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("query service not ready after 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// seed the service's own database
	conn, err := chconn.Open(context.Background(), cfg.ClickHouse, false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := conn.PrepareBatch(context.Background(), logevent.InsertSQL(logevent.LogsTable))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append(e.Row()...); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	conn.Close()

	for path, want := range map[string]int{"/v1/logs": 200, "/v1/logs/" + e.ID: 200, "/healthz": 200, "/metrics": 200} {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Header.Set(tenant.HeaderAPIKey, key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		if path == "/v1/logs" {
			_ = json.NewDecoder(resp.Body).Decode(&body)
			if body["total"] != float64(1) {
				t.Errorf("GET /v1/logs total %v; want 1", body["total"])
			}
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: status %d; want %d", path, resp.StatusCode, want)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after stop: %v", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
}
