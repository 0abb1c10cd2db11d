package quota

import (
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"

	"logpipe/lib/tenant"
	"logpipe/lib/testenv"
)

func newCounter(t *testing.T, now time.Time) *Counter {
	t.Helper()
	c, err := New(nil, testenv.Logger(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	c.now = func() time.Time { return now }
	return c
}

func TestPlans(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	c := newCounter(t, now)
	dev := tenant.Principal{OrganisationID: "dev", Plan: tenant.PlanDeveloper}
	prod := tenant.Principal{OrganisationID: "prod", Plan: tenant.PlanProduction}
	ent := tenant.Principal{OrganisationID: "ent", Plan: tenant.PlanEnterprise}
	c.total[key{"dev", Month(now)}] = 9_990
	c.total[key{"prod", Month(now)}] = 99_990
	c.total[key{"ent", Month(now)}] = 1 << 40

	d := c.Reserve(dev, 10)
	if !d.Allowed {
		t.Fatalf("developer within its limit refused: %+v", d)
	}
	if d2 := c.Reserve(dev, 1); d2.Allowed || d2.Used != 10_000 || d2.Limit != 10_000 {
		t.Errorf("developer beyond its limit (reserved counts): %+v; want refused at 10000/10000", d2)
	}
	c.Release(d) // Kafka did not take them
	if d3 := c.Reserve(dev, 10); !d3.Allowed {
		t.Errorf("released logs still counted: %+v", d3)
	} else {
		c.Commit(d3)
	}
	if got := c.Used("dev"); got != 10_000 {
		t.Errorf("developer used %d; want 10000", got)
	}

	p := c.Reserve(prod, 30)
	if !p.Allowed || p.Overage != 20 {
		t.Errorf("production across its limit: %+v; want allowed with 20 overage", p)
	}
	if e := c.Reserve(ent, 1000); !e.Allowed || e.Overage != 0 || e.Limit != 0 {
		t.Errorf("enterprise: %+v; want unlimited", e)
	}

	next := newCounter(t, now.AddDate(0, 1, 0))
	next.total = c.total
	if d := next.Reserve(dev, 10); !d.Allowed {
		t.Errorf("a new month starts from zero: %+v", d)
	}
}

// TestReplicasShareCounts: two replicas on one ClickHouse database see each
// other's counts after a sync, and a new replica starts from them.
func TestReplicasShareCounts(t *testing.T) {
	_, conn := testenv.ClickHouse(t)
	ctx := t.Context()
	a, b := newCounterOn(t, conn), newCounterOn(t, conn)
	p := tenant.Principal{OrganisationID: "org-r", Plan: tenant.PlanProduction}
	a.Commit(a.Reserve(p, 5))
	b.Commit(b.Reserve(p, 7))
	for _, c := range []*Counter{a, b, a} {
		if err := c.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := a.Used("org-r"); got != 12 {
		t.Errorf("replica a sees %d; want 12", got)
	}
	if got := b.Used("org-r"); got != 12 {
		t.Errorf("replica b sees %d; want 12", got)
	}
	fresh := newCounterOn(t, conn)
	if err := fresh.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := fresh.Used("org-r"); got != 12 {
		t.Errorf("a restarted replica sees %d; want 12", got)
	}
}

func newCounterOn(t *testing.T, conn driver.Conn) *Counter {
	t.Helper()
	c, err := New(conn, testenv.Logger(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return c
}
