package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/podspec/cloudsqlproxy/cmd/cloudsqlproxy/internal/yamledit"
)

// FuzzInject feeds arbitrary streams to inject. Whatever the input, the
// command must not panic, must exit 0 or 1, must write nothing on failure,
// and on success must produce a stream that reads back, that a second
// inject leaves as it is, and that remove turns back into the input, byte
// for byte, if the input held nothing for remove to take out. The flags
// (env vars, a socket volume, the legacy and Job modes) depend on the
// input's length, so that the fuzzer tries them all.
func FuzzInject(f *testing.F) {
	var seeds []string
	for _, pattern := range []string{"testdata/*.*", "testdata/splice/*", "../../examples/*.yaml"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, m...)
	}
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  spec: {containers: [{name: a}]}\n"))
	f.Add([]byte("{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"spec\":{\"containers\":null}}\n{}"))
	f.Add([]byte("---\r\napiVersion: v1\r\nkind: Pod\r\nspec:\r\n  containers: [{name: a, env: [{name: X}]}]\r\n"))
	f.Add([]byte("kind: Pod\napiVersion: v1\nspec:\n  containers:\n  - name: a\n    env: []\n    volumeMounts:\n  volumes: []\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		flags := flagSets[1+len(data)%3]
		args := append(append([]string{"inject"}, flags...), "-f", "-")
		first := runCLI(string(data), args...)
		switch first.code {
		case 0:
		case 1:
			if first.stdout != "" {
				t.Fatalf("exit 1 with output:\n%s", first.stdout)
			}
			return
		default:
			t.Fatalf("exit %d\n%s", first.code, first.stderr)
		}
		docs, errs := yamledit.Split("output", []byte(first.stdout))
		if len(errs) > 0 {
			t.Fatalf("the output does not split: %v\n%s", errs, first.stdout)
		}
		for _, d := range docs {
			if _, err := d.Decode(); err != nil {
				t.Fatalf("the output does not read: %v\n%s", err, first.stdout)
			}
		}
		second := runCLI(first.stdout, args...)
		if second.code != 0 {
			t.Fatalf("inject cannot read its own output: exit %d\n%s\noutput:\n%s", second.code, second.stderr, first.stdout)
		}
		if second.stdout != first.stdout {
			t.Fatalf("inject changed its own output:\n%s\n---- became\n%s", first.stdout, second.stdout)
		}

		removeArgs := append(append([]string{"remove"}, flags...), "-f", "-")
		if nothing := runCLI(string(data), removeArgs...); nothing.code != 0 || nothing.stdout != string(data) {
			return // the input has a proxy, or is not written back as it came (a byte order mark)
		}
		if strings.Contains(first.stderr, "cannot be edited in place") {
			return // said so
		}
		back := runCLI(first.stdout, removeArgs...)
		if back.code != 0 {
			t.Fatalf("remove cannot read inject's output: exit %d\n%s\noutput:\n%s", back.code, back.stderr, first.stdout)
		}
		if back.stdout == string(data) {
			return
		}
		// The known losses: a list the proxy fills that was null, or []
		// in JSON, is gone again afterwards rather than null or []; so is
		// a null or empty metadata or annotations, where inject recorded.
		want, got := emptiesDropped(t, string(data)), emptiesDropped(t, back.stdout)
		if !reflect.DeepEqual(want, got) {
			t.Fatalf("remove(inject(x)) != x:\n%s\n---- became\n%s", data, back.stdout)
		}
	})
}

// emptiesDropped reads a stream and leaves out the lists the proxy uses
// that are null or empty.
func emptiesDropped(t *testing.T, stream string) []any {
	t.Helper()
	var out []any
	var drop func(v any) any
	drop = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if m, isMap := e.(map[string]any); (k == "metadata" || k == "annotations") && (e == nil || isMap && len(m) == 0) {
					delete(x, k)
					continue
				}
				if _, keyed := proxyLists[k]; keyed {
					if l, _ := e.([]any); len(l) == 0 {
						delete(x, k)
						continue
					}
				}
				x[k] = drop(e)
			}
		case []any:
			for i, e := range x {
				x[i] = drop(e)
			}
		}
		return v
	}
	for _, m := range decodeAll(t, splitOutput(t, stream)) {
		out = append(out, drop(m))
	}
	return out
}
