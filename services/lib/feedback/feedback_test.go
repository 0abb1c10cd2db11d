package feedback

import (
	"reflect"
	"testing"
)

func TestRoundTripAndValidate(t *testing.T) {
	f := Feedback{ID: "fb-1", OrganisationID: "org", WorkspaceID: "ws", TraceID: "tr", Value: -3, Weight: 0.5, CreatedAt: 5, UpdatedAt: 6,
		MetadataKey: []string{"k"}, MetadataValue: []string{"v"}}
	b, err := Encode(&f)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(b)
	if err != nil || !reflect.DeepEqual(got, f) {
		t.Fatalf("round trip: got %+v, %v; want %+v", got, err, f)
	}
	if errs := f.Validate(); errs != nil {
		t.Errorf("valid feedback rejected: %v", errs)
	}
	if len(f.Row()) != len(Columns) {
		t.Errorf("Row has %d values; Columns %d", len(f.Row()), len(Columns))
	}
	bad := f
	bad.Value, bad.Weight = 11, 1.5
	if errs := bad.Validate(); len(errs) != 2 {
		t.Errorf("got %v; want errors for value and weight", errs)
	}
}
