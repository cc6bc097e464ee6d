package jsonshape

import (
	"reflect"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      map[string]string
	}{
		{"scalars", `{"s":"x","n":1.5,"b":true,"z":null}`,
			map[string]string{"": "object", "s": "string", "n": "number", "b": "bool", "z": "null"}},
		{"nested", `{"a":{"b":{"c":[1,2]}}}`,
			map[string]string{"": "object", "a": "object", "a.b": "object", "a.b.c": "array", "a.b.c[]": "number"}},
		{"array elements merge", `[{"x":1,"y":null},{"x":"s","y":"t"}]`,
			map[string]string{"": "array", "[]": "object", "[].x": "number|string", "[].y": "null|string"}},
		{"a key some elements lack is absent there", `[{"x":1},{"x":2,"role":"a"}]`,
			map[string]string{"": "array", "[]": "object", "[].x": "number", "[].role": "absent|string"}},
		{"empty array has no element path", `{"models":[]}`,
			map[string]string{"": "object", "models": "array"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for p, k := range s {
				got[p] = k.String()
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("shape of %s:\n got %v\nwant %v", tc.doc, got, tc.want)
			}
		})
	}
}

func TestParseRejectsBadJSON(t *testing.T) {
	if _, err := Parse([]byte(`{"a":`)); err == nil {
		t.Fatal("a truncated document parsed")
	}
}

func TestDiff(t *testing.T) {
	real, _ := Parse([]byte(`{"id":"x","fp":"fp_ollama","choices":[{"delta":{"role":"assistant","content":"1"}}]}`))
	sim, _ := Parse([]byte(`{"id":7,"choices":[{"delta":{"content":"1"}},{"delta":{"role":"assistant","content":"2"}}]}`))
	got := Diff(real, sim, "real", "sim")
	want := []string{
		"choices[].delta.role: real string, sim absent|string",
		"fp: real string, sim (none)",
		"id: real string, sim number",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("diff:\n got %q\nwant %q", got, want)
	}
	if d := Diff(real, real, "a", "b"); len(d) != 0 {
		t.Fatalf("a shape differs from itself: %q", d)
	}
	// Values never matter.
	a, _ := Parse([]byte(`{"n":1,"s":"a"}`))
	b, _ := Parse([]byte(`{"n":2e9,"s":"something else"}`))
	if d := Diff(a, b, "a", "b"); len(d) != 0 {
		t.Fatalf("values changed the shape: %q", d)
	}
}
