package yamledit

import (
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

func TestMerge(t *testing.T) {
	m := merger{proxyName: "p"}
	for _, tc := range []struct {
		name      string
		o, r0, r1 any
		want      any
		key       string
	}{
		{
			name: "unchanged keeps the original's spelling",
			o:    map[string]any{"cpu": 0.5, "future": true},
			r0:   map[string]any{"cpu": "500m"},
			r1:   map[string]any{"cpu": "500m"},
			want: map[string]any{"cpu": 0.5, "future": true},
		},
		{
			name: "round-trip noise is not written",
			o:    map[string]any{"name": "a"},
			r0:   map[string]any{"name": "a", "resources": map[string]any{}},
			r1:   map[string]any{"name": "a", "resources": map[string]any{}, "env": []any{"E"}},
			want: map[string]any{"name": "a", "env": []any{"E"}},
		},
		{
			name: "noise the library changed keeps only the change",
			o:    map[string]any{},
			r0:   map[string]any{"sc": map[string]any{"x": int64(0), "y": int64(0)}},
			r1:   map[string]any{"sc": map[string]any{"x": int64(1), "y": int64(0)}},
			want: map[string]any{"sc": map[string]any{"x": int64(1)}},
		},
		{
			name: "an inserted container does not shift the pairing",
			key:  "initContainers",
			o:    []any{map[string]any{"name": "a", "future": 1}},
			r0:   []any{map[string]any{"name": "a"}},
			r1:   []any{map[string]any{"name": "p", "image": "proxy"}, map[string]any{"name": "a", "env": []any{"E"}}},
			want: []any{map[string]any{"name": "p", "image": "proxy"}, map[string]any{"name": "a", "future": 1, "env": []any{"E"}}},
		},
		{
			name: "nothing of the original is restored into the proxy container",
			key:  "containers",
			o:    []any{map[string]any{"name": "p", "image": "old", "future": 1}, map[string]any{"name": "a"}},
			r0:   []any{map[string]any{"name": "p", "image": "old"}, map[string]any{"name": "a"}},
			r1:   []any{map[string]any{"name": "p", "image": "new"}, map[string]any{"name": "a"}},
			want: []any{map[string]any{"name": "p", "image": "new"}, map[string]any{"name": "a"}},
		},
		{
			name: "removed items go, the others keep their fields",
			key:  "env",
			o:    []any{map[string]any{"name": "A", "x": 1}, map[string]any{"name": "Q"}},
			r0:   []any{map[string]any{"name": "A"}, map[string]any{"name": "Q"}},
			r1:   []any{map[string]any{"name": "A"}},
			want: []any{map[string]any{"name": "A", "x": 1}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, m.merge(tc.o, tc.r0, tc.r1, tc.key)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestListKeysAreTheTypes holds listKeys to the patchMergeKey tags of the
// pod template's types, which strategic merge patches pair items by. The
// table lists only the lists Attach and Detach change: the tags key others
// by fields that need not be unique (ports by containerPort without the
// protocol, hostAliases by ip), so they are not taken over whole.
func TestListKeysAreTheTypes(t *testing.T) {
	tags := map[string]map[string]bool{} // field -> merge keys
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] {
			return
		}
		seen[t] = true
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if key := f.Tag.Get("patchMergeKey"); key != "" {
				if tags[name] == nil {
					tags[name] = map[string]bool{}
				}
				tags[name][key] = true
			}
			walk(f.Type)
		}
	}
	walk(reflect.TypeOf(corev1.PodTemplateSpec{}))
	for field, key := range listKeys {
		if want := tags[field]; len(want) != 1 || !want[key] {
			t.Errorf("listKeys[%q] = %q, but the types' patchMergeKey tags say %v", field, key, want)
		}
	}
}
