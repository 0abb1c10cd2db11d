package fbindex

import (
	"context"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"logpipe/lib/feedback"
	"logpipe/lib/logevent"
	"logpipe/lib/tenant"
	"logpipe/lib/testenv"
)

func insert(t *testing.T, conn driver.Conn, fs ...feedback.Feedback) {
	t.Helper()
	b, err := conn.PrepareBatch(context.Background(), feedback.InsertSQL())
	if err != nil {
		t.Fatal(err)
	}
	for i := range fs {
		if err := b.Append(fs[i].Row()...); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

func fb(id, org, ws string) feedback.Feedback {
	now := logevent.MillisOf(time.Now())
	return feedback.Feedback{ID: id, OrganisationID: org, WorkspaceID: ws, TraceID: "t", Value: 1, Weight: 1,
		CreatedAt: now, UpdatedAt: now, RetentionDays: 30}
}

// A feedback exists only within its own tenant: another organisation with a
// workspace of the same name does not see it.
func TestExistsWithinTheTenantOnly(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	insert(t, conn, fb("fb-1", "org1", "prod"), fb("fb-2", "org2", "prod"))
	x := New(conn)
	org1, _ := tenant.ScopeOf("org1", "prod")
	org2, _ := tenant.ScopeOf("org2", "prod")
	ctx := context.Background()
	for _, tc := range []struct {
		sc   tenant.Scope
		id   string
		want bool
	}{{org1, "fb-1", true}, {org2, "fb-1", false}, {org2, "fb-2", true}, {org1, "fb-2", false}, {org1, "nope", false}} {
		got, err := x.Exists(ctx, tc.sc, tc.id)
		if err != nil || got != tc.want {
			t.Errorf("%s in %s: %v, %v; want %v", tc.id, tc.sc.OrganisationID(), got, err, tc.want)
		}
	}
	// remembered ids exist before ClickHouse has them, in their tenant only
	x.Remember(org1, []string{"fb-3"})
	if ok, _ := x.Exists(ctx, org1, "fb-3"); !ok {
		t.Error("a remembered id does not exist")
	}
	if ok, _ := x.Exists(ctx, org2, "fb-3"); ok {
		t.Error("another tenant's remembered id exists")
	}
	if _, err := x.Exists(ctx, tenant.Scope{}, "fb-1"); err == nil {
		t.Error("the zero scope was answered")
	}
}

// A young ingest-made id not yet in ClickHouse is looked up again, so an
// update right after the create (through another ingest process) succeeds.
func TestYoungIDIsAwaited(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	x := New(conn)
	sc, _ := tenant.ScopeOf("org", "ws")
	id := logevent.NewID()
	go func() {
		time.Sleep(time.Second)
		insert(t, conn, fb(id, "org", "ws"))
	}()
	if ok, err := x.Exists(context.Background(), sc, id); !ok || err != nil {
		t.Errorf("young id inserted a second later: %v, %v; want found", ok, err)
	}
	if ok, _ := x.Exists(context.Background(), sc, logevent.NewID()); ok {
		t.Error("a young id never inserted was found")
	}
}
