package yamledit

import (
	"testing"

	"github.com/google/go-cmp/cmp"
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
