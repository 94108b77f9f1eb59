package cloudsqlproxy

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"sigs.k8s.io/yaml"

	"github.com/podspec/cloudsqlproxy/internal/proxycmd"
)

// TestAdoptManifestsGolden migrates every manifest under testdata/adopt the
// way a user would: FromContainer on each proxy container, New, Attach. The
// result (the whole pod spec, or the errors) is NAME.adopted; -update
// rewrites it, so review the diff.
func TestAdoptManifestsGolden(t *testing.T) {
	manifests, err := filepath.Glob(filepath.Join("testdata", "adopt", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range manifests {
		name := strings.TrimSuffix(filepath.Base(m), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(m)
			if err != nil {
				t.Fatal(err)
			}
			got := adoptAll(t, manifestPodSpec(t, data))
			checkGolden(t, filepath.Join("testdata", "adopt", name+".adopted"), got, "TestAdoptManifestsGolden")
		})
	}
}

// checkGolden compares got with the golden file, which -update rewrites;
// test names the test to run with -update when the file is missing.
func checkGolden(t *testing.T, golden, got, test string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update, then review it)", err, test)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", golden, diff)
	}
}

// adoptAll migrates every proxy of spec and renders the outcome.
func adoptAll(t *testing.T, spec *corev1.PodSpec) string {
	var b strings.Builder
	for _, l := range containerLists(spec) {
		for i := range l.cs {
			c := l.cs[i]
			if proxycmd.Detect(&c) == proxycmd.None {
				continue
			}
			before := spec.DeepCopy()
			insts, opts, err := FromContainer(c, spec.Volumes)
			var p *Proxy
			if err == nil {
				for _, in := range insts[1:] {
					opts = append(opts, WithInstance(in))
				}
				p, err = New(insts[0], opts...)
			}
			if err == nil {
				err = p.Attach(spec)
			}
			if err != nil {
				if !errors.Is(err, ErrInvalidConfig) && !errors.Is(err, ErrConflict) {
					t.Errorf("%s: error matches neither ErrInvalidConfig nor ErrConflict: %v", c.Name, err)
				}
				if diff := cmp.Diff(before, spec); diff != "" {
					t.Errorf("%s: a failed adoption changed the spec (-before +after):\n%s", c.Name, diff)
				}
				b.WriteString("# " + l.name + " " + c.Name + ": refused:\n")
				var agg utilerrors.Aggregate
				if errors.As(err, &agg) {
					for _, e := range agg.Errors() {
						b.WriteString("#   " + e.Error() + "\n")
					}
				} else {
					b.WriteString("#   " + err.Error() + "\n")
				}
				continue
			}
			again := spec.DeepCopy()
			if err := p.Attach(again); err != nil || !cmp.Equal(spec, again) {
				t.Errorf("%s: attaching the adopted proxy again changes the pod: %v", c.Name, err)
			}
			b.WriteString("# " + l.name + " " + c.Name + ": adopted\n")
		}
	}
	y, err := yaml.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	return b.String() + string(y)
}

// TestFromContainerRefusesWhatItCannotCarry: settings in envFrom and named
// ports would be lost unseen, so they are errors naming the field.
func TestFromContainerRefusesWhatItCannotCarry(t *testing.T) {
	base := corev1.Container{Name: "cloud-sql-proxy", Image: "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.1",
		Args: []string{"--port=5432", "my-project:us-central1:db"}}
	for name, tc := range map[string]struct {
		edit func(*corev1.Container)
		want string
	}{
		"envFrom": {func(c *corev1.Container) {
			c.EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "proxy-flags"}}}}
		}, `container.envFrom[0]: Invalid value: "configMapRef proxy-flags"`},
		"named port": {func(c *corev1.Container) {
			c.Ports = []corev1.ContainerPort{{Name: "metrics", ContainerPort: 9090}}
		}, `container.ports[0].name: Invalid value: "metrics"`},
	} {
		t.Run(name, func(t *testing.T) {
			c := *base.DeepCopy()
			tc.edit(&c)
			_, _, err := FromContainer(c, nil)
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("FromContainer: %v, want an error with %q", err, tc.want)
			}
		})
	}
	if _, _, err := FromContainer(base, nil); err != nil {
		t.Errorf("the base container: %v", err)
	}
}

// TestFromContainerKeepsBuiltInMetrics carries the 2.27 metrics flags over,
// written as flags or as CSQL_PROXY_* env, and refuses the hidden
// --connect-tunnel, which the library cannot render.
func TestFromContainerKeepsBuiltInMetrics(t *testing.T) {
	const inst = "my-project:us-central1:db"
	env := func(name, value string) corev1.EnvVar { return corev1.EnvVar{Name: name, Value: value} }
	tests := []struct {
		name string
		args []string
		env  []corev1.EnvVar
		want []string // the adopted proxy's metrics arguments
		err  string
	}{
		{name: "proxy default", args: []string{"--port=5432", inst}},
		{name: "off", args: []string{"--port=5432", "--enable-builtin-metrics=false", inst},
			want: []string{"--enable-builtin-metrics=false"}},
		{name: "on, bare", args: []string{"--port=5432", "--enable-builtin-metrics", inst},
			want: []string{"--enable-builtin-metrics=true"}},
		{name: "labels; the platform as the proxy reads it", args: []string{"--port=5432", "--compute-platform= GKE", "--application-name=checkout api", inst},
			want: []string{"--compute-platform=gke", "--application-name=checkout api"}},
		{name: "env", args: []string{"--port=5432", inst},
			env:  []corev1.EnvVar{env("CSQL_PROXY_ENABLE_BUILTIN_METRICS", "false")},
			want: []string{"--enable-builtin-metrics=false"}},
		{name: "not a boolean", args: []string{"--port=5432", "--enable-builtin-metrics=off", inst},
			err: `container.args[1]: Invalid value: "off": --enable-builtin-metrics is a boolean: true or false`},
		{name: "unknown platform", args: []string{"--port=5432", "--compute-platform=k8s", inst},
			err: `WithComputePlatform: Unsupported value: "k8s"`},
		{name: "connect tunnel", args: []string{"--port=5432", "--connect-tunnel", inst},
			err: `container.args[1]: Invalid value: "--connect-tunnel=true": the library has no option for this flag`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := corev1.Container{Name: "cloud-sql-proxy", Image: DefaultImage, Args: tt.args, Env: tt.env}
			insts, opts, err := FromContainer(c, nil)
			var p *Proxy
			if err == nil {
				p, err = New(insts[0], opts...)
			}
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range p.Container().Args {
				for _, f := range []string{"--enable-builtin-metrics", "--compute-platform", "--application-name"} {
					if strings.HasPrefix(a, f) {
						got = append(got, a)
					}
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("metrics arguments (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFromContainerEnginePort: a TCP instance whose port the proxy takes
// from its database engine (the seed's own sidecar) is read; New then asks
// for WithPort rather than writing 5432, right only for PostgreSQL, and
// takes the instance with it.
func TestFromContainerEnginePort(t *testing.T) {
	c := corev1.Container{Name: "cloud-sql-proxy", Image: "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.1",
		Args: []string{"--address", "0.0.0.0", "--structured-logs", "my-proj:europe-north1:inst"}}
	insts, opts, err := FromContainer(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(insts[0], opts...)
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "WithPort: Required value: the adopted proxy took the port of my-proj:europe-north1:inst from its database engine") {
		t.Errorf("New without WithPort: %v", err)
	}
	p, err := New(insts[0], append(opts, WithPort(3306))...)
	if err != nil {
		t.Fatal(err)
	}
	if args := p.Container().Args; args[len(args)-1] != "my-proj:europe-north1:inst?port=3306" {
		t.Errorf("instance %q, want it on 3306", args[len(args)-1])
	}
	if _, err := New("my-proj:europe-north1:other", opts...); err != nil {
		t.Errorf("New for another instance than the adopted one still asks for its port: %v", err)
	}
	if _, err := New(insts[0]+"?port=3307", opts...); err != nil {
		t.Errorf("New with the instance's own ?port=: %v", err)
	}
}

// TestFromContainerV1IPPreference: a v1 proxy without -ip_address_types
// connected as v1 did (public IP, else private), which v2 calls --auto-ip;
// an IP type chosen with New's options wins over it rather than clashing.
func TestFromContainerV1IPPreference(t *testing.T) {
	c := corev1.Container{Name: "cloudsql-proxy", Image: "gcr.io/cloudsql-docker/gce-proxy:1.33.2",
		Command: []string{"/cloud_sql_proxy", "-instances=my-project:us-central1:db=tcp:5432"}}
	insts, opts, err := FromContainer(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		more []Option
		inst string
		want []string // the IP switches rendered
	}{
		{"as v1", nil, insts[0], []string{"--auto-ip"}},
		{"private IP given", []Option{WithPrivateIP()}, insts[0], []string{"--private-ip"}},
		{"PSC given", []Option{WithPSC()}, insts[0], []string{"--psc"}},
		{"per instance", nil, "my-project:us-central1:db?private-ip=true", nil},
		{"auto-ip given", []Option{WithAutoIP()}, insts[0], []string{"--auto-ip"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.inst, append(slices.Clip(opts), tt.more...)...)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range p.Container().Args {
				if a == "--auto-ip" || a == "--private-ip" || a == "--psc" {
					got = append(got, a)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("IP switches (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFromContainerKeyFileBySubPath: a key file mounted alone with subPath
// is a key of its Secret like one in a mounted directory.
func TestFromContainerKeyFileBySubPath(t *testing.T) {
	secret := func(items ...corev1.KeyToPath) []corev1.Volume {
		return []corev1.Volume{{Name: "sa", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "db-sa", Items: items}}}}
	}
	for _, tt := range []struct {
		name    string
		subPath string
		volumes []corev1.Volume
		wantKey string
	}{
		{"a key of the Secret", "credentials.json", secret(), "credentials.json"},
		{"a path the items map a key to", "keys/sa.json", secret(corev1.KeyToPath{Key: "service-account", Path: "keys/sa.json"}), "service-account"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := corev1.Container{Name: "cloud-sql-proxy", Image: DefaultImage,
				Args:         []string{"--credentials-file=/etc/sql/key.json", "--port=5432", "my-project:us-central1:db"},
				VolumeMounts: []corev1.VolumeMount{{Name: "sa", MountPath: "/etc/sql/key.json", SubPath: tt.subPath, ReadOnly: true}}}
			insts, opts, err := FromContainer(c, tt.volumes)
			if err != nil {
				t.Fatal(err)
			}
			p, err := New(insts[0], opts...)
			if err != nil {
				t.Fatal(err)
			}
			if v := p.Volumes(); len(v) != 1 || v[0].Secret == nil || v[0].Secret.SecretName != "db-sa" {
				t.Errorf("volumes %+v, want the Secret db-sa", v)
			}
			if want := "--credentials-file=/var/run/secrets/cloudsql/" + tt.wantKey; !slices.Contains(p.Container().Args, want) {
				t.Errorf("args %q lack %s", p.Container().Args, want)
			}
		})
	}
}
