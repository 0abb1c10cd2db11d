package chconn_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"logpipe/lib/chconn"
	"logpipe/lib/testenv"
)

// A service started before ClickHouse waits for it: OpenWait keeps trying an
// address where nothing listens yet, and connects once the server is there
// (a proxy to the test server that starts listening two seconds later).
func TestOpenWaitWaitsForTheServer(t *testing.T) {
	cfg, _ := testenv.ClickHouse(t)
	target := cfg.Addr
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there until the proxy starts
	started := make(chan struct{})
	go func() {
		time.Sleep(2 * time.Second)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("proxy: %v", err)
			close(started)
			return
		}
		t.Cleanup(func() { l.Close() })
		close(started)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go proxy(c, target)
		}
	}()
	cfg.Addr = addr
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := chconn.OpenWait(ctx, cfg, false, testenv.Logger())
	if err != nil {
		t.Fatalf("OpenWait: %v", err)
	}
	defer conn.Close()
	select {
	case <-started:
	default:
		t.Fatal("connected before anything listened")
	}
	if err := conn.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

// A server that answers with an error is not waited for, and a context that
// ends stops the waiting with both causes in the error.
func TestOpenWaitGivesUp(t *testing.T) {
	cfg, _ := testenv.ClickHouse(t)
	cfg.Password = "not-the-password"
	cfg.User = "no_such_user"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := chconn.OpenWait(ctx, cfg, false, testenv.Logger())
	var ex *clickhouse.Exception
	if !errors.As(err, &ex) || ctx.Err() != nil {
		t.Fatalf("wrong credentials: %v (context: %v); want the server's exception at once", err, ctx.Err())
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ = testenv.ClickHouse(t)
	cfg.Addr = ln.Addr().String()
	ln.Close()
	short, cancel2 := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel2()
	_, err = chconn.OpenWait(short, cfg, false, testenv.Logger())
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), cfg.Addr) {
		t.Fatalf("nothing listening: %v; want the dial error and the deadline", err)
	}
}

func proxy(c net.Conn, target string) {
	defer c.Close()
	s, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer s.Close()
	go func() { _, _ = io.Copy(s, c) }()
	_, _ = io.Copy(c, s)
}
