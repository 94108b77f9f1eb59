package main

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzInject feeds arbitrary streams to inject. Whatever the input, the
// command must not panic, must exit 0 or 1, must write nothing on failure,
// and on success must produce a stream that it reads back and leaves as it
// is.
func FuzzInject(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "*.*"))
	if err != nil {
		f.Fatal(err)
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
	f.Fuzz(func(t *testing.T, data []byte) {
		args := []string{"inject", "--instance", inst, "--host-env", "DB_HOST", "-f", "-"}
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
		second := runCLI(first.stdout, args...)
		if second.code != 0 {
			t.Fatalf("inject cannot read its own output: exit %d\n%s\noutput:\n%s", second.code, second.stderr, first.stdout)
		}
		if second.stdout != first.stdout {
			t.Fatalf("inject changed its own output:\n%s\n---- became\n%s", first.stdout, second.stdout)
		}
	})
}
