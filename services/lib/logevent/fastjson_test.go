package logevent

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"math/rand/v2"
	"reflect"
	"testing"

	"logpipe/schemas"
)

// slowDecode is the reference: encoding/json into a New event.
func slowDecode(b []byte) (Event, error) {
	e := New()
	err := json.Unmarshal(b, &e)
	return e, err
}

// checkSame fails when the fast path accepts b but disagrees with encoding/json.
func checkSame(t testing.TB, b []byte) (fast bool) {
	t.Helper()
	var got Event = New()
	if !decodeFast(b, &got) {
		return false
	}
	want, err := slowDecode(b)
	if err != nil {
		t.Fatalf("fast path accepted %q; encoding/json refuses it: %v", b, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("fast path on %q:\ngot  %+v\nwant %+v", b, got, want)
	}
	return true
}

func exampleFiles(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	for _, dir := range []string{"event/testdata/valid", "event/testdata/invalid"} {
		files, err := fs.ReadDir(schemas.FS, dir)
		if err != nil {
			t.Fatalf("read %s: %v", dir, err)
		}
		for _, f := range files {
			b, err := fs.ReadFile(schemas.FS, dir+"/"+f.Name())
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
	}
	return out
}

// edgeCases are inputs around every branch of the fast path.
var edgeCases = []string{
	`{}`, ` { } `, `{"id":"a"}x`, `{"id":"a",}`, `{"ID":"upper"}`, `{"unknown":1,"id":"a"}`,
	`{"id":"a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00"}`, `{"id":"\ud83d"}`, `{"id":"\ud83dx"}`, `{"id":"\u12"}`,
	`{"id":"caf` + "\xe9" + `"}`, `{"id":"` + "\x01" + `"}`, `{"id":"héllo"}`, `{"id":null}`, `{"id":1}`,
	`{"is_success":0}`, `{"is_success":256}`, `{"is_success":-1}`, `{"is_success":1.0}`, `{"is_success":1e0}`,
	`{"is_success":01}`, `{"is_success":null}`, `{"response_status_code":65535}`, `{"response_status_code":65536}`,
	`{"total_units":4294967295}`, `{"total_units":4294967296}`, `{"total_units":"5"}`,
	`{"cost":1.5e-3}`, `{"cost":-0}`, `{"cost":1e999}`, `{"cost":.5}`, `{"cost":1.}`, `{"cost":null}`, `{"cost":"1"}`,
	`{"created_at":"2026-11-22T10:04:05.123Z"}`, `{"created_at":"2026-11-22T12:04:05.1239+02:00"}`,
	`{"created_at":1763805845123}`, `{"created_at":-5}`, `{"created_at":1.5}`, `{"created_at":null}`, `{"created_at":"x"}`,
	`{"created_at":"2026-11-22T10:04:05\u002e123Z"}`, `{"created_at":99999999999999999999}`,
	`{"request.body":{"a":[1,2.5e3,-0.1,true,false,null,"x\"y"],"b":{}}}`, `{"request.body":null}`, `{"request.body":"s"}`,
	`{"request.body":[]}`, `{"request.body":{"a":}}`, `{"request.body":{"a" 1}}`, `{"request.body":[1,]}`, `{"request.body":tru}`,
	`{"request.body":"\x"}`, `{"request.body":{"k":"` + "\xff" + `"}}`, `{"request.body":1,"request.body":null}`,
	`{"metadata.key":["a","b"],"metadata.value":["1","2"]}`, `{"metadata.key":[]}`, `{"metadata.key":null}`,
	`{"metadata.key":["a",null]}`, `{"metadata.key":["a",1]}`, `{"metadata.key":["a"],"metadata.key":["b","c"]}`,
	`{"metadata.key":["a","b"],"metadata.key":[]}`, `{"metadata.key":"a"}`, `{"metadata.key":[ "a" , "b" ]}`,
	`{"id":"a","id":"b"}`, `{"ai_org":"x","ai_org":null}`, `[1]`, `"x"`, ``, `{`, `{"id"`, `{"id":`, `{"id":"a"`,
	`{"is_tracked":0,"request.body":{"x":1}}`, "\t{\n\"id\" : \"a\" ,\r\n\"cost\":0 }\n",
}

func TestDecodeFastEqualsEncodingJSON(t *testing.T) {
	fast := 0
	inputs := exampleFiles(t)
	for _, s := range edgeCases {
		inputs = append(inputs, []byte(s))
	}
	for _, b := range inputs {
		if checkSame(t, b) {
			fast++
		}
	}
	if fast < len(inputs)/3 {
		t.Errorf("fast path took %d of %d inputs; it should take the plain ones", fast, len(inputs))
	}
	// Every valid example is plain and must take the fast path.
	files, _ := fs.ReadDir(schemas.FS, "event/testdata/valid")
	for _, f := range files {
		b, _ := fs.ReadFile(schemas.FS, "event/testdata/valid/"+f.Name())
		e := New()
		if !decodeFast(b, &e) {
			t.Errorf("valid example %s did not take the fast path", f.Name())
		}
	}
}

// TestDecodeFastMutations is a deterministic fuzz run on every `go test`:
// random byte edits of the examples, each compared with encoding/json.
func TestDecodeFastMutations(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte(`{}[]":,\-+.0123456789eEtrufalsn u` + "\x00\x80\xff\t")
	n := 0
	for _, b := range exampleFiles(t) {
		for range 3000 {
			m := append([]byte(nil), b...)
			for k := r.IntN(3) + 1; k > 0 && len(m) > 0; k-- {
				i := r.IntN(len(m))
				switch r.IntN(3) {
				case 0:
					m[i] = alphabet[r.IntN(len(alphabet))]
				case 1:
					m = append(m[:i], m[i+1:]...)
				default:
					m = append(m[:i], append([]byte{alphabet[r.IntN(len(alphabet))]}, m[i:]...)...)
				}
			}
			checkSame(t, m)
			n++
		}
	}
	t.Logf("%d mutated inputs compared", n)
}

func TestDecodeMatchesEncodingJSONErrors(t *testing.T) {
	for _, s := range edgeCases {
		got, gerr := Decode([]byte(s))
		want, werr := slowDecode([]byte(s))
		if (gerr == nil) != (werr == nil) {
			t.Errorf("Decode(%q) error %v; encoding/json error %v", s, gerr, werr)
			continue
		}
		if gerr == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("Decode(%q) = %+v; want %+v", s, got, want)
		}
	}
}

// TestDecodeDoesNotAliasInput: the caller may reuse its buffer.
func TestDecodeDoesNotAliasInput(t *testing.T) {
	b := []byte(`{"id":"abc","request.body":{"x":1},"metadata.key":["k"]}`)
	e, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 'z'
	}
	if e.ID != "abc" || string(e.RequestBody) != `{"x":1}` || e.MetadataKey[0] != "k" {
		t.Fatalf("decoded event changed with its input: %+v", e)
	}
	// Appending to a RawJSON must not overwrite its neighbours.
	e.RequestBody = append(e.RequestBody, "garbage"...)
	if e.MetadataKey[0] != "k" || e.ID != "abc" {
		t.Fatalf("append to request.body overwrote other fields: %+v", e)
	}
}

func FuzzDecode(f *testing.F) {
	for _, b := range exampleFiles(f) {
		f.Add(b)
	}
	for _, s := range edgeCases {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkSame(t, b) })
}

// TestDecodeFastWireOrder decodes events in Encode's key order (where every
// key guess of decodeFast hits) and in that order with keys moved, each
// compared with encoding/json.
func TestDecodeFastWireOrder(t *testing.T) {
	for _, b := range exampleFiles(t) {
		e, err := Decode(b)
		if err != nil {
			continue
		}
		wire, err := Encode(&e)
		if err != nil {
			t.Fatal(err)
		}
		checkSame(t, wire)
		// the first key moved to the end: guesses miss once, then hit again
		if i := bytes.IndexByte(wire, ','); i > 0 {
			moved := append(append([]byte{'{'}, wire[i+1:len(wire)-1]...), ',')
			moved = append(append(moved, wire[1:i]...), '}')
			checkSame(t, moved)
		}
	}
}

// TestDecodeStrictAliasing checks that it decodes as DecodeStrict does, valid
// examples and rejected edge cases alike.
func TestDecodeStrictAliasing(t *testing.T) {
	inputs := exampleFiles(t)
	for _, s := range edgeCases {
		inputs = append(inputs, []byte(s))
	}
	for _, b := range inputs {
		want, wantErr := DecodeStrict(b)
		// into an event left over from another decode, as ingest reuses one
		got := Event{ID: "stale", Cost: 1, MetadataKey: []string{"k"}, RequestBody: RawJSON("{}")}
		err := DecodeStrictAliasing(bytes.Clone(b), &got, nil)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("%q: error %v; DecodeStrict says %v", b, err, wantErr)
		}
		if err != nil && err.Error() != wantErr.Error() {
			t.Errorf("%q: error %v; DecodeStrict says %v", b, err, wantErr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %+v; want %+v", b, got, want)
		}
	}
}
