package tenant

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAddKeyLookupAndReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	plainA, keyA, err := AddKey(path, "org-a", "ws-a", RoleAdmin, PlanDeveloper)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := r.Lookup(plainA)
	if !ok || p.WorkspaceID != "ws-a" || p.Role != RoleAdmin || p.Plan != PlanDeveloper || p.RetentionDays != 3 || p.KeyID != keyA.ID {
		t.Fatalf("Lookup: %+v %v", p, ok)
	}
	if _, ok := r.Lookup("lp_wrong"); ok {
		t.Error("unknown key resolved")
	}
	raw, _ := os.ReadFile(path)
	if string(raw) == "" || strings.Contains(string(raw), plainA) {
		t.Error("the registry file stores the plaintext key")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Watch(ctx, 10*time.Millisecond, nil)
	time.Sleep(20 * time.Millisecond) // mtime granularity
	plainB, _, err := AddKey(path, "org-a", "ws-b", RoleMember, PlanEnterprise)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if p, ok := r.Lookup(plainB); ok {
			if p.Plan != PlanEnterprise || p.RetentionDays != DefaultEnterpriseRetentionDays {
				t.Errorf("reloaded principal %+v", p)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Watch did not pick up the new key")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The organisation's plan changed for its existing key too.
	if p, _ := r.Lookup(plainA); p.Plan != PlanEnterprise {
		t.Errorf("plan of org-a after the change: %s; want enterprise", p.Plan)
	}
}

func TestBadRegistryIsRejected(t *testing.T) {
	_, k := NewKey("org", "ws", RoleAdmin)
	for name, f := range map[string]File{
		"unknown plan": {Organisations: []Organisation{{ID: "org", Plan: "gold"}}},
		"unknown org":  {Keys: []Key{k}},
		"unknown role": {Organisations: []Organisation{{ID: "org", Plan: PlanProduction}}, Keys: []Key{{ID: "k", SHA256: k.SHA256, OrganisationID: "org", WorkspaceID: "ws", Role: "owner"}}},
	} {
		if _, err := NewStatic(f); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
