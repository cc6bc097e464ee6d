// Package jsonshape compares JSON documents by shape, not value: which
// keys exist and what type each value has, recursively. It keeps the
// simulator honest: a personality written from a server's documentation
// must answer with the shape the real server answers with, whatever the
// values.
//
// A shape maps each path to the kinds of value found there. Paths are
// keys joined by "." from the root ("" is the root itself); the elements
// of an array are merged under "[]" ("choices[].delta.content"), so an
// array of stream chunks has one shape, the union of its chunks'. Kinds
// are the JSON types (object, array, string, number, bool, null) plus
// "absent": a key that some objects at a path have and others lack (only
// possible where array elements are merged).
package jsonshape

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Shape is a document's shape: path -> kinds.
type Shape map[string]Kinds

// Kinds is a set of kinds.
type Kinds map[string]bool

// String is the kinds sorted and joined by "|", or "(none)".
func (k Kinds) String() string {
	if len(k) == 0 {
		return "(none)"
	}
	names := make([]string, 0, len(k))
	for n := range k {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, "|")
}

// Parse returns the shape of a JSON document.
func Parse(data []byte) (Shape, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("json shape: %w", err)
	}
	return Of(v), nil
}

// Of returns the shape of a decoded JSON value (as encoding/json decodes
// into any).
func Of(v any) Shape {
	w := walker{shape: Shape{}, objects: map[string]int{}, keys: map[string]int{}, parent: map[string]string{}}
	w.walk("", v)
	for path, n := range w.keys {
		if n < w.objects[w.parent[path]] {
			w.shape[path]["absent"] = true
		}
	}
	return w.shape
}

type walker struct {
	shape Shape
	// objects counts the objects seen at a path; keys counts, for a
	// key's path, the objects at its parent path that had the key.
	objects, keys map[string]int
	parent        map[string]string
}

func (w *walker) add(path, kind string) {
	if w.shape[path] == nil {
		w.shape[path] = Kinds{}
	}
	w.shape[path][kind] = true
}

func (w *walker) walk(path string, v any) {
	switch v := v.(type) {
	case map[string]any:
		w.add(path, "object")
		w.objects[path]++
		for k, e := range v {
			child := k
			if path != "" {
				child = path + "." + k
			}
			w.keys[child]++
			w.parent[child] = path
			w.walk(child, e)
		}
	case []any:
		w.add(path, "array")
		for _, e := range v {
			w.walk(path+"[]", e)
		}
	case string:
		w.add(path, "string")
	case json.Number, float64:
		w.add(path, "number")
	case bool:
		w.add(path, "bool")
	case nil:
		w.add(path, "null")
	default:
		w.add(path, fmt.Sprintf("%T", v))
	}
}

// Diff lists how got's shape differs from want's, one line per path whose
// kinds differ, sorted by path: `path: <wantName> kinds, <gotName> kinds`.
// Empty means the same shape.
func Diff(want, got Shape, wantName, gotName string) []string {
	paths := map[string]bool{}
	for p := range want {
		paths[p] = true
	}
	for p := range got {
		paths[p] = true
	}
	sorted := make([]string, 0, len(paths))
	for p := range paths {
		sorted = append(sorted, p)
	}
	sort.Strings(sorted)
	var out []string
	for _, p := range sorted {
		if w, g := want[p].String(), got[p].String(); w != g {
			name := p
			if name == "" {
				name = "(root)"
			}
			out = append(out, fmt.Sprintf("%s: %s %s, %s %s", name, wantName, w, gotName, g))
		}
	}
	return out
}
