package logevent

import (
	"math/rand/v2"
	"testing"
)

func TestStatusStrings(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(e *Event)
		want Status
	}{
		{"defaults", func(e *Event) {}, Status{"Cache Disabled", "Retry Not Triggered", "Fallback Disabled", "Loadbalancer Disabled"}},
		{"semantic hit, retried 3 times", func(e *Event) { e.CacheStatus, e.RetryAttempts, e.RetrySuccessCount = CacheSemanticHit, 3, 3 },
			Status{"Cache Semantic Hit", "Retry Success on 3 Tries", "Fallback Disabled", "Loadbalancer Disabled"}},
		{"retries failed", func(e *Event) { e.CacheStatus, e.RetryAttempts, e.RetryFailed = CacheMiss, 5, 1 },
			Status{"Cache Miss", "Retry Failed", "Fallback Disabled", "Loadbalancer Disabled"}},
		{"fallback to option 2", func(e *Event) { e.Mode, e.FallbackOption, e.CacheStatus = ModeFallback, 2, CacheHit },
			Status{"Cache Hit", "Retry Not Triggered", "Fallback Triggered on Option 2", "Loadbalancer Disabled"}},
		{"fallback, first target answered", func(e *Event) { e.Mode, e.FallbackOption, e.CacheStatus = ModeFallback, 1, CacheRefreshed },
			Status{"Cache Refreshed", "Retry Not Triggered", "Fallback Active", "Loadbalancer Disabled"}},
		{"load balanced", func(e *Event) { e.Mode, e.LoadbalanceActive = ModeLoadbalance, 1 },
			Status{"Cache Disabled", "Retry Not Triggered", "Fallback Disabled", "Loadbalancer Active"}},
	} {
		e := New()
		tc.set(&e)
		if got := e.Status(); got != tc.want {
			t.Errorf("%s: got %+v; want %+v", tc.name, got, tc.want)
		}
	}
}

func TestDropBodiesAndValidate(t *testing.T) {
	e := New()
	e.ID, e.WorkspaceID, e.CreatedAt = NewID(), "ws", 1
	e.RequestBody, e.ResponseHeaders = RawJSON(`{"secret":1}`), RawJSON(`{"h":"v"}`)
	e.IsTracked = 0
	if errs := e.Validate(DefaultLimits); len(errs) != 2 {
		t.Errorf("not-tracked event with payloads: got %v; want 2 errors", errs)
	}
	e.DropBodies()
	if errs := e.Validate(DefaultLimits); errs != nil {
		t.Errorf("after DropBodies: %v", errs)
	}
	b, _ := Encode(&e)
	if got, _ := Decode(b); got.RequestBody != nil || got.IsTracked != 0 {
		t.Errorf("decoded DNT event keeps a body or tracking: %+v", got)
	}
}

func TestIDTime(t *testing.T) {
	id := NewID()
	ms, ok := IDTime(id)
	if !ok || ms <= 0 {
		t.Fatalf("IDTime(%s) = %v, %v", id, ms, ok)
	}
	if _, ok := IDTime("not-a-uuid"); ok {
		t.Error("IDTime accepted a non-UUID")
	}
}

// TestMillisAppendJSON checks the hand-written format against TimeLayout.
func TestMillisAppendJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	values := []Millis{0, 1, -1, 999, 1000, -62135596800000, -62135596800001, 1763805845123, 253402300799999, 253402300800000, 1<<63 - 1, -1 << 63}
	for i := 0; i < 100000; i++ {
		values = append(values, Millis(r.Int64N(2*253402300800000)-253402300800000))
	}
	for _, m := range values {
		want := `"` + m.Time().Format(TimeLayout) + `"`
		if got := string(m.AppendJSON(nil)); got != want {
			t.Fatalf("Millis(%d).AppendJSON = %s; want %s", int64(m), got, want)
		}
	}
}
