package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/podspec/cloudsqlproxy"
	"github.com/podspec/cloudsqlproxy/cmd/cloudsqlproxy/internal/yamledit"
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
			in, _ := yamledit.Split(m, data)
			if diff := cmp.Diff(decodeAll(t, in), decodeAll(t, splitOutput(t, removed.stdout))); diff != "" {
				t.Errorf("remove(inject(x)) != x (-x +got):\n%s", diff)
			}
		})
	}
}

// TestReinjectWithOtherFlags: inject over an earlier injection with other
// flags gives what a first inject with those flags gives, byte for byte,
// and remove then needs no flags to give back the original.
func TestReinjectWithOtherFlags(t *testing.T) {
	for _, m := range []string{"deployment", "job", "cronjob"} {
		t.Run(m, func(t *testing.T) {
			file := filepath.Join("..", "..", "examples", m+".yaml")
			first := runCLI("", "inject", "--instance", "my-project:us-central1:db", "--host-env", "DB_HOST", "-f", file)
			again := runCLI(first.stdout, "inject", "--instance", "my-project:us-central1:other", "--port", "6000", "--port-env", "DB_PORT", "-f", "-")
			fresh := runCLI("", "inject", "--instance", "my-project:us-central1:other", "--port", "6000", "--port-env", "DB_PORT", "-f", file)
			if first.code != 0 || again.code != 0 || fresh.code != 0 {
				t.Fatalf("exit %d, %d, %d: %s%s%s", first.code, again.code, fresh.code, first.stderr, again.stderr, fresh.stderr)
			}
			if diff := cmp.Diff(fresh.stdout, again.stdout); diff != "" {
				t.Errorf("re-inject (-fresh inject +re-inject):\n%s", diff)
			}
			removed := runCLI(again.stdout, "remove", "-f", "-")
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if removed.code != 0 || removed.stdout != string(want) {
				t.Errorf("remove without flags: exit %d, output differs from %s:\n%s", removed.code, file, cmp.Diff(string(want), removed.stdout))
			}
		})
	}
}

// TestReinjectAdopted: an adopted proxy injected again with other flags is
// adopted from the original again, so its settings stay; without
// --instance the second run leaves the output as it is.
func TestReinjectAdopted(t *testing.T) {
	file := filepath.Join("..", "..", "testdata", "adopt", "v2-private-ip-iam.yaml")
	first := runCLI("", "inject", "-f", file)
	again := runCLI(first.stdout, "inject", "--quiet", "-f", "-")
	same := runCLI(first.stdout, "inject", "-f", "-")
	if first.code != 0 || again.code != 0 || same.code != 0 {
		t.Fatalf("exit %d, %d, %d: %s%s%s", first.code, again.code, same.code, first.stderr, again.stderr, same.stderr)
	}
	for _, setting := range []string{"- --private-ip\n", "- --quiet\n", "reports-pg?port=5432&auto-iam-authn=true\n", "reports-mysql?port=3306\n"} {
		if !strings.Contains(again.stdout, setting) {
			t.Errorf("re-inject with --quiet lost %q:\n%s", setting, again.stdout)
		}
	}
	if same.stdout != first.stdout {
		t.Errorf("inject on its own output changed it:\n%s", cmp.Diff(first.stdout, same.stdout))
	}
}

// TestAdoptNamesTheApplication: --application-name-from-workload also
// labels an adopted proxy, whose own settings are kept around it.
func TestAdoptNamesTheApplication(t *testing.T) {
	r := runCLI("", "inject", "--application-name-from-workload", "--builtin-metrics", "true",
		"--image", "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.28.0", "-f", "../../testdata/adopt/v2-sa-key.yaml")
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"- --enable-builtin-metrics=true\n", "- --application-name=billing\n", "secretName: billing-proxy-sa-key\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the output lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestAdoptSeedSidecarWithPort: the seed's own sidecar takes its port from
// the database engine; inject refuses it naming --port, and adopts it with
// --port, keeping its instance, key-file Secret and address.
func TestAdoptSeedSidecarWithPort(t *testing.T) {
	r := runCLI("", "inject", "--port", "5432", "-f", "../../testdata/adopt/seed-sidecar.yaml")
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"- my-proj:europe-north1:inst?port=5432\n", "secretName: db-creds\n", "- --address=0.0.0.0\n", "restartPolicy: Always\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the output lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestReinjectKeepsEdits: what is written in the input's proxy container
// is kept unless a flag given now says otherwise; defaults only fill what
// nothing says. A bot's bump of the image tag survives a re-run of the same
// inject, and a plain inject after inject --instance X on an adopted
// workload keeps X.
func TestReinjectKeepsEdits(t *testing.T) {
	deployment := filepath.Join("..", "..", "examples", "deployment.yaml")
	first := runCLI("", "inject", "--instance", inst, "-f", deployment)
	if first.code != 0 {
		t.Fatalf("exit %d: %s", first.code, first.stderr)
	}
	bumped := strings.ReplaceAll(first.stdout, cloudsqlproxy.DefaultImage, "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.29.0")
	if bumped == first.stdout {
		t.Fatal("the injected output has no default image to bump")
	}
	again := runCLI(bumped, "inject", "--instance", inst, "-f", "-")
	if again.code != 0 || again.stdout != bumped {
		t.Errorf("re-running the same inject changed the bumped output (exit %d):\n%s%s", again.code, cmp.Diff(bumped, again.stdout), again.stderr)
	}
	other := runCLI(bumped, "inject", "--image", cloudsqlproxy.DefaultImage, "-f", "-")
	if other.code != 0 || other.stdout != first.stdout {
		t.Errorf("--image given now did not win (exit %d):\n%s%s", other.code, cmp.Diff(first.stdout, other.stdout), other.stderr)
	}

	adopted := filepath.Join("..", "..", "testdata", "adopt", "v2-sa-key.yaml")
	moved := runCLI("", "inject", "--instance", "my-project:us-central1:moved", "--image", cloudsqlproxy.DefaultImage, "-f", adopted)
	plain := runCLI(moved.stdout, "inject", "-f", "-")
	if moved.code != 0 || plain.code != 0 {
		t.Fatalf("exit %d, %d: %s%s", moved.code, plain.code, moved.stderr, plain.stderr)
	}
	if plain.stdout != moved.stdout {
		t.Errorf("a plain inject changed what inject --instance wrote:\n%s", cmp.Diff(moved.stdout, plain.stdout))
	}
	if removed := runCLI(plain.stdout, "remove", "-f", "-"); removed.code != 0 || !strings.Contains(removed.stdout, "my-project:us-central1:billing") {
		t.Errorf("remove did not give the original proxy back (exit %d):\n%s%s", removed.code, removed.stdout, removed.stderr)
	}
}

// TestAdoptNullEmptyDir: "emptyDir:" written as null is an emptyDir (the
// API server defaults it so), not a volume of unknown kind that clashes
// with the socket directory: a v1 proxy sharing it with the application is
// adopted.
func TestAdoptNullEmptyDir(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("..", "..", "testdata", "adopt", "v1-unix-socket.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	null := strings.Replace(string(in), "emptyDir: {}", "emptyDir:", 1)
	if null == string(in) {
		t.Fatal("the manifest has no emptyDir: {} to write as null")
	}
	want := runCLI(string(in), "inject", "-f", "-")
	got := runCLI(null, "inject", "-f", "-")
	if got.code != 0 || want.code != 0 {
		t.Fatalf("exit %d, %d:\n%s%s", want.code, got.code, want.stderr, got.stderr)
	}
	if !strings.Contains(got.stdout, "- --unix-socket=/cloudsql") || strings.Contains(got.stdout, "\n        emptyDir:\n") {
		t.Errorf("the null emptyDir was not taken over:\n%s", got.stdout)
	}
}
