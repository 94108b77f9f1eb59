package yamledit

import (
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

// TestSplice gives the splicer one change at a time, the value at path
// becoming the YAML to: the text must become want, and splice must say
// whether it wrote a value anew.
func TestSplice(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		path []any
		to   string // YAML of the new value
		want string
		anew bool // a value was written anew rather than edited
	}{
		{
			name: "block: delete the first entry of a list item, the next one moves up to the dash",
			text: "c:\n- env:\n  - {name: A}\n  image: b\n  name: a\nd: 1\n",
			path: []any{"c", 0}, to: "{image: b, name: a}",
			want: "c:\n- image: b\n  name: a\nd: 1\n",
		},
		{
			name: "block: delete entries in the middle and at the end, comments stay",
			text: "m:\n  a: 1\n  # about b\n  b:\n    x: 1\n\n  c: 3  # c\n  d: [4]\n",
			path: []any{"m"}, to: "{a: 1, c: 3}",
			want: "m:\n  a: 1\n  # about b\n\n  c: 3  # c\n",
		},
		{
			name: "block: insert before the first entry of a list item, in a sorted document",
			text: "c:\n- image: b\n  name: a\n",
			path: []any{"c", 0}, to: "{env: [{name: A, value: x}], image: b, name: a}",
			want: "c:\n- env:\n  - name: A\n    value: x\n  image: b\n  name: a\n",
		},
		{
			name: "block: a scalar is replaced where it stands, its comment stays",
			text: "a:\n  v: old   # keep me\n  w: 2\n",
			path: []any{"a", "v"}, to: "'1.5'",
			want: "a:\n  v: \"1.5\"   # keep me\n  w: 2\n",
		},
		{
			name: "block: a null becomes a list, in the document's indentation",
			text: "a:\n    b:\n        - x\n    env:\n",
			path: []any{"a", "env"}, to: "[{name: A, value: x}]",
			want: "a:\n    b:\n        - x\n    env:\n        - name: A\n          value: x\n",
		},
		{
			name: "block: an item goes above the comment of the item after it",
			text: "l:\n- a\n# about c\n- c\n",
			path: []any{"l"}, to: "[a, b, c]",
			want: "l:\n- a\n- b\n# about c\n- c\n",
		},
		{
			name: "block: the value on the next line, as Helm's nindent writes it",
			text: "env:\n  []\nx: 1\n",
			path: []any{"env"}, to: "[{name: A}]",
			want: "env:\n  [{name: A}]\nx: 1\n",
		},
		{
			name: "block: a flow list emptied stays [] (Helm's empty value)",
			text: "c:\n  env: [{name: A}]\n  image: b\n",
			path: []any{"c"}, to: "{image: b}",
			want: "c:\n  env: []\n  image: b\n",
		},
		{
			name: "block: a multi-line string as a literal block",
			text: "c:\n  image: b\n",
			path: []any{"c"}, to: "{image: b, args: [\"set -e\\nrun\\n\"]}",
			want: "c:\n  image: b\n  args:\n  - |\n    set -e\n    run\n",
		},
		{
			name: "flow: delete the first, a middle and the last member",
			text: "m: {a: 1, b: 2, c: 3, d: 4, e: 5}\n",
			path: []any{"m"}, to: "{b: 2, d: 4}",
			want: "m: {b: 2, d: 4}\n",
		},
		{
			name: "flow: insert at the start and the end, in the collection's spacing",
			text: "m: {b: 2,  c: 3}\n",
			path: []any{"m"}, to: "{a: 1, b: 2, c: 3, z: 'p:r:i?port=1'}",
			want: "m: {a: 1,  b: 2,  c: 3,  z: \"p:r:i?port=1\"}\n", // go-yaml v2 refuses it plain
		},
		{
			name: "flow: items of a list across lines",
			text: "l: [a,\n    b]\n",
			path: []any{"l"}, to: "[a, c, b, d]",
			want: "l: [a,\n    c,\n    b,\n    d]\n",
		},
		{
			name: "flow: a comment inside means the collection is written anew",
			text: "l: [a, # first\n    b]\n",
			path: []any{"l"}, to: "[a, b, c]",
			want: "l: [a, b, c]\n",
			anew: true,
		},
		{
			name: "JSON: members go in with the object's indentation",
			text: "{\n    \"a\": {\n        \"x\": 1\n    }\n}",
			path: []any{"a"}, to: "{x: 1, w: [1, {k: v}]}",
			want: "{\n    \"a\": {\n        \"x\": 1,\n        \"w\": [\n            1,\n            {\n                \"k\": \"v\"\n            }\n        ]\n    }\n}",
		},
		{
			name: "JSON: a member goes out with its comma",
			text: "{\"a\": {\"x\": 1, \"w\": 2}, \"b\": 3}",
			path: []any{"a"}, to: "{w: 2}",
			want: "{\"a\": {\"w\": 2}, \"b\": 3}",
		},
		{
			name: "an alias is written anew, its anchor stays",
			text: "x: &e [a]\nw: *e\n",
			path: []any{"w"}, to: "[a, b]",
			want: "x: &e [a]\nw:\n- a\n- b\n",
			anew: true,
		},
		{
			name: "a merge key: the mapping is written anew",
			text: "x: &m {a: 1}\nw:\n  <<: *m\n  b: 2\n",
			path: []any{"w"}, to: "{a: 1, b: 2, c: 3}",
			want: "x: &m {a: 1}\nw:\n  a: 1\n  b: 2\n  c: 3\n",
			anew: true,
		},
		{
			name: "CRLF line breaks in what is added",
			text: "m:\r\n  a: 1\r\n",
			path: []any{"m"}, to: "{a: 1, b: [x]}",
			want: "m:\r\n  a: 1\r\n  b:\r\n  - x\r\n",
		},
		{
			name: "no final line break, before and after",
			text: "m:\n  a: 1",
			path: []any{"m"}, to: "{a: 1, b: 2}",
			want: "m:\n  a: 1\n  b: 2",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs, errs := Split("t", []byte(tc.text))
			if len(errs) > 0 || len(docs) != 1 {
				t.Fatalf("%d documents, %v", len(docs), errs)
			}
			d := docs[0]
			obj, err := d.Decode()
			if err != nil {
				t.Fatal(err)
			}
			var to any
			if err := yaml.Unmarshal([]byte(tc.to), &to); err != nil {
				t.Fatal(err)
			}
			to = ints(to)
			want := ints(deepCopy(obj)).(map[string]any)
			old := setAt(want, tc.path, to)
			out, anew, ok := d.Splice([]Change{{Path: tc.path, Old: old, New: to}}, want, NewScalarCache())
			if !ok {
				t.Fatalf("splice failed")
			}
			if diff := cmp.Diff(tc.want, string(out)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if (anew > 0) != tc.anew {
				t.Errorf("written anew at line %d, want %v", anew, tc.anew)
			}
		})
	}
}

// ints turns the float64 that yaml.Unmarshal gives integers into the int64
// the command's reader gives.
func ints(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = ints(e)
		}
	case []any:
		for i, e := range x {
			x[i] = ints(e)
		}
	case float64:
		if x == float64(int64(x)) {
			return int64(x)
		}
	}
	return v
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = deepCopy(e)
		}
		return l
	}
	return v
}

// setAt replaces the value at path and returns the one it replaced.
func setAt(root map[string]any, path []any, v any) any {
	var cur any = root
	for _, p := range path[:len(path)-1] {
		if k, ok := p.(string); ok {
			cur = cur.(map[string]any)[k]
		} else {
			cur = cur.([]any)[p.(int)]
		}
	}
	last := path[len(path)-1]
	if k, ok := last.(string); ok {
		old := cur.(map[string]any)[k]
		cur.(map[string]any)[k] = v
		return old
	}
	l := cur.([]any)
	old := l[last.(int)]
	l[last.(int)] = v
	return old
}

func TestPairItems(t *testing.T) {
	named := func(names ...string) []any {
		var l []any
		for _, n := range names {
			l = append(l, map[string]any{"name": n})
		}
		return l
	}
	for _, tc := range []struct {
		name     string
		old, new []any
		field    string
		want     []int
	}{
		{"an item added in front", named("a", "b"), named("p", "a", "b"), "containers", []int{1, 2}},
		{"an item moved is taken out and put in again", named("a", "p", "b"), named("p", "a", "b"), "containers", []int{1, -1, 2}},
		{"by identity, not content", []any{map[string]any{"name": "a", "x": 1}}, named("a"), "env", []int{0}},
		{"by content in other lists", []any{"a", "b", "c"}, []any{"a", "x", "c"}, "args", []int{0, -1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, pairItems(tc.old, tc.new, tc.field)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestInsertPos(t *testing.T) {
	s := &splicer{}
	for _, tc := range []struct {
		keys   []string
		k      string
		sorted bool
		want   int
	}{
		{[]string{"name", "image", "resources"}, "env", false, 2},      // before resources
		{[]string{"containers"}, "initContainers", false, 0},           // before containers
		{[]string{"containers", "restartPolicy"}, "volumes", false, 2}, // at the end, as people keep them
		{[]string{"name", "image"}, "volumeMounts", false, 2},          // after image
		{[]string{"containers", "restartPolicy"}, "initContainers", true, 1},
		{[]string{"name", "futureField"}, "unknownToo", false, 2},
	} {
		s.r.sorted = tc.sorted
		typ := podSpecType
		if tc.keys[0] == "name" {
			typ = elemType(memberType(podSpecType, "containers")) // a container
		}
		if got := s.insertPos(tc.keys, tc.k, typ); got != tc.want {
			t.Errorf("insertPos(%v, %s, sorted %v) = %d, want %d", tc.keys, tc.k, tc.sorted, got, tc.want)
		}
	}
}

// TestSpliceVerifies: what the splicer writes is read back, and a text that
// does not mean the value to write is refused (the caller then writes the
// document anew).
func TestSpliceVerifies(t *testing.T) {
	docs, _ := Split("t", []byte("m:\n  a: 1\n"))
	obj, err := docs[0].Decode()
	if err != nil {
		t.Fatal(err)
	}
	c := Change{Path: []any{"m"}, Old: obj["m"], New: map[string]any{"a": int64(1), "b": int64(2)}}
	if _, _, ok := docs[0].Splice([]Change{c}, map[string]any{"m": map[string]any{"a": int64(1), "b": int64(3)}}, NewScalarCache()); ok {
		t.Error("splice accepted a text that does not mean the value to write")
	}
	if _, _, ok := docs[0].Splice([]Change{c}, map[string]any{"m": c.New}, NewScalarCache()); !ok {
		t.Error("splice refused a right text")
	}
}

// TestEqualValues holds the splicer's comparison to reflect.DeepEqual on
// the values the decoders give.
func TestEqualValues(t *testing.T) {
	values := []any{
		nil, "a", "", int64(1), int64(2), 1.0, 1.5, true, false,
		map[string]any{}, map[string]any(nil), map[string]any{"a": int64(1)}, map[string]any{"a": 1.0}, map[string]any{"b": int64(1)},
		map[string]any{"a": []any{"x", map[string]any{"y": nil}}}, map[string]any{"a": []any{"x", map[string]any{"y": false}}},
		[]any{}, []any(nil), []any{"a"}, []any{"a", "b"}, []any{"b", "a"}, []any{nil},
	}
	for _, a := range values {
		for _, b := range values {
			if got, want := equalValues(a, b), reflect.DeepEqual(a, b); got != want {
				t.Errorf("equalValues(%#v, %#v) = %v, want %v", a, b, got, want)
			}
		}
	}
}
