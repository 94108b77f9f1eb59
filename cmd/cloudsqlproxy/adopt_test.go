package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestAdoptUpstreamManifests runs inject with no flags over the library's
// manifests modelled on upstream examples (testdata/adopt at the module
// root): every hand-written proxy is adopted (or refused, with errors
// naming its fields), the result is testdata/golden/adopt-NAME.out/.err
// (-update rewrites them; review the diff), and remove then gives back a
// manifest that means what the input meant.
func TestAdoptUpstreamManifests(t *testing.T) {
	manifests, err := filepath.Glob(filepath.Join("..", "..", "testdata", "adopt", "*.yaml"))
	if err != nil || len(manifests) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	for _, m := range manifests {
		name := strings.TrimSuffix(filepath.Base(m), ".yaml")
		t.Run(name, func(t *testing.T) {
			got := runCLI("", "inject", "-f", m)
			for ext, text := range map[string]string{".out": got.stdout, ".err": got.stderr} {
				golden := filepath.Join("testdata", "golden", "adopt-"+name+ext)
				if *update {
					if err := os.WriteFile(golden, []byte(text), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(string(want), text); diff != "" {
					t.Errorf("%s (-want +got):\n%s", golden, diff)
				}
			}
			if got.code != 0 {
				return
			}
			removed := runCLI(got.stdout, "remove", "-f", "-")
			if removed.code != 0 {
				t.Fatalf("remove: exit %d\n%s", removed.code, removed.stderr)
			}
			data, err := os.ReadFile(m)
			if err != nil {
				t.Fatal(err)
			}
			in, _ := splitStream(m, data)
			if diff := cmp.Diff(decodeAll(t, in), decodeAll(t, splitOutput(t, removed.stdout))); diff != "" {
				t.Errorf("remove(inject(x)) != x (-x +got):\n%s", diff)
			}
		})
	}
}
