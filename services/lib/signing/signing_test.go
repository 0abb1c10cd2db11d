package signing

import "testing"

func TestRotation(t *testing.T) {
	old, err := Parse("k1:old-secret-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	kid, mac := old.Sign("share", "acme", "prod", "log-1")
	if kid != "k1" {
		t.Fatalf("got key id %q; want k1", kid)
	}
	rotated, err := Parse("k2:new-secret-0123456789, k1:old-secret-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	if !rotated.Verify(kid, mac, "share", "acme", "prod", "log-1") {
		t.Fatal("a link signed before the rotation no longer verifies")
	}
	if got, _ := rotated.Sign("share", "x"); got != "k2" {
		t.Fatalf("rotated keyring signs with %q; want k2", got)
	}
	retired, _ := Parse("k2:new-secret-0123456789")
	if retired.Verify(kid, mac, "share", "acme", "prod", "log-1") {
		t.Fatal("a link of a removed key still verifies")
	}
}

func TestVerifyRejectsChanges(t *testing.T) {
	k, _ := Parse("a:secret-secret-secret")
	kid, mac := k.Sign("share", "acme", "prod", "id")
	cases := []struct {
		name    string
		kid     string
		purpose string
		fields  []string
	}{
		{"other organisation", kid, "share", []string{"globex", "prod", "id"}},
		{"other purpose", kid, "download", []string{"acme", "prod", "id"}},
		{"fields shifted", kid, "share", []string{"acmep", "rod", "id"}},
		{"unknown key id", "b", "share", []string{"acme", "prod", "id"}},
	}
	for _, c := range cases {
		if k.Verify(c.kid, mac, c.purpose, c.fields...) {
			t.Errorf("%s: verified; want refused", c.name)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, spec := range []string{"", "nocolon", "a:short", "bad id:0123456789abcdefgh", "a:0123456789abcdefgh,a:0123456789abcdefgh"} {
		if _, err := Parse(spec); err == nil {
			t.Errorf("Parse(%q): no error", spec)
		}
	}
}
