package cloudsqlproxy

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/podspec/cloudsqlproxy/internal/podres"
)

func mustNew(t *testing.T, opts ...Option) *Proxy {
	t.Helper()
	p, err := New(inst, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// appPod has a migration init container and two app containers.
func appPod() corev1.PodSpec {
	return corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever,
		InitContainers: []corev1.Container{
			{Name: "migrate", Image: "example.com/app:1", Env: []corev1.EnvVar{{Name: "MODE", Value: "migrate"}}},
		},
		Containers: []corev1.Container{
			{Name: "app", Image: "example.com/app:1", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}},
			{Name: "worker", Image: "example.com/app:1"},
		},
		Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
	}
}

func names(cs []corev1.Container) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

func envNames(c corev1.Container) []string {
	var out []string
	for _, e := range c.Env {
		out = append(out, e.Name+"="+e.Value)
	}
	return out
}

var modes = []struct {
	name string
	opts []Option
}{
	{"native", nil},
	{"legacy", []Option{WithLegacySidecar()}},
	{"job", []Option{ForJob(0)}},
	{"job with timeout", []Option{ForJob(time.Minute)}},
}

// every mode, with everything Attach wires into other containers.
func allWiring(mode []Option) []Option {
	return append([]Option{
		WithUnixSocket("/cloudsql"),
		WithAppEnv(inst, AppEnv{Socket: "DB_SOCKET"}),
		WithCredentialsSecret("sa-key"),
	}, mode...)
}

func TestAttachPlacement(t *testing.T) {
	tests := []struct {
		name           string
		opts           []Option
		wantInit       []string
		wantContainers []string
	}{
		{"native sidecar first among init containers", nil, []string{"cloudsql-proxy", "migrate"}, []string{"app", "worker"}},
		{"legacy sidecar first among containers", []Option{WithLegacySidecar()}, []string{"migrate"}, []string{"cloudsql-proxy", "app", "worker"}},
		{"job first among containers", []Option{ForJob(0)}, []string{"migrate"}, []string{"cloudsql-proxy", "app", "worker"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := appPod()
			if err := mustNew(t, tt.opts...).Attach(&spec); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantInit, names(spec.InitContainers)); diff != "" {
				t.Errorf("initContainers (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantContainers, names(spec.Containers)); diff != "" {
				t.Errorf("containers (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAttachWiresOnlyContainersThatCanReachTheProxy(t *testing.T) {
	env := WithAppEnv(inst, AppEnv{Host: "DB_HOST", Port: "DB_PORT"})
	t.Run("native: later init containers and all containers", func(t *testing.T) {
		spec := appPod()
		// A container before the proxy runs before it has started.
		spec.InitContainers = append([]corev1.Container{{Name: "early", Image: "busybox"}, builtProxy(t, "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.20.0")}, spec.InitContainers...)
		if err := mustNew(t, env).Attach(&spec); err != nil {
			t.Fatal(err)
		}
		got := map[string][]string{}
		for _, c := range append(append([]corev1.Container(nil), spec.InitContainers...), spec.Containers...) {
			got[c.Name] = envNames(c)
		}
		db := []string{"DB_HOST=127.0.0.1", "DB_PORT=5432"}
		want := map[string][]string{
			"early": nil, DefaultName: nil,
			"migrate": {"MODE=migrate", db[0], db[1]}, "app": db, "worker": db,
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("env by container (-want +got):\n%s", diff)
		}
	})
	t.Run("job: containers only, with the quit URL", func(t *testing.T) {
		spec := appPod()
		if err := mustNew(t, env, ForJob(0), WithAdminPort(9200)).Attach(&spec); err != nil {
			t.Fatal(err)
		}
		if got := envNames(spec.InitContainers[0]); len(got) != 1 {
			t.Errorf("init container env = %q, want only its own: it runs before the proxy", got)
		}
		want := []string{"CSQL_PROXY_QUIT_URLS=http://localhost:9200/quitquitquit", "DB_HOST=127.0.0.1", "DB_PORT=5432"}
		if diff := cmp.Diff(want, envNames(spec.Containers[1])); diff != "" {
			t.Errorf("app env (-want +got):\n%s", diff)
		}
		if got := envNames(spec.Containers[0]); got != nil {
			t.Errorf("the proxy itself got env %q", got)
		}
	})
	t.Run("socket path env escaped for the kubelet, mount path not", func(t *testing.T) {
		spec := appPod()
		if err := mustNew(t, WithUnixSocket("/run/$x"), WithAppEnv(inst, AppEnv{Socket: "DB_SOCKET"})).Attach(&spec); err != nil {
			t.Fatal(err)
		}
		app := spec.Containers[0]
		if got := app.Env[0].Value; got != "/run/$$x/"+inst {
			t.Errorf("DB_SOCKET = %q, want the $ doubled", got)
		}
		if got := app.VolumeMounts[0].MountPath; got != "/run/$x" {
			t.Errorf("mountPath = %q, want it literal (the kubelet does not expand mount paths)", got)
		}
		if got := spec.InitContainers[0].Args[5]; got != "--unix-socket=/run/$$x" {
			t.Errorf("proxy arg = %q, want the $ doubled", got)
		}
	})
	t.Run("unix socket mounted where the proxy writes it", func(t *testing.T) {
		spec := appPod()
		if err := mustNew(t, allWiring(nil)...).Attach(&spec); err != nil {
			t.Fatal(err)
		}
		want := []corev1.VolumeMount{{Name: "cloudsql-proxy-sockets", MountPath: "/cloudsql"}}
		for _, c := range append(spec.InitContainers[1:], spec.Containers...) {
			if diff := cmp.Diff(want, c.VolumeMounts); diff != "" {
				t.Errorf("%s mounts (-want +got):\n%s", c.Name, diff)
			}
			if diff := cmp.Diff([]string{"DB_SOCKET=/cloudsql/" + inst}, envNames(c)[len(envNames(c))-1:]); diff != "" {
				t.Errorf("%s env (-want +got):\n%s", c.Name, diff)
			}
		}
		if diff := cmp.Diff([]string{"data", "cloudsql-proxy-sockets", "cloudsql-proxy-credentials"}, volumeNames(spec.Volumes)); diff != "" {
			t.Errorf("volumes (-want +got):\n%s", diff)
		}
	})
}

func volumeNames(vs []corev1.Volume) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Name)
	}
	return out
}

func TestAttachIsIdempotentAndDetachUndoesIt(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			p := mustNew(t, allWiring(m.opts)...)
			orig := appPod()
			once := appPod()
			if err := p.Attach(&once); err != nil {
				t.Fatal(err)
			}
			twice := *once.DeepCopy()
			if err := p.Attach(&twice); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(once, twice); diff != "" {
				t.Errorf("second Attach changed the spec (-once +twice):\n%s", diff)
			}
			if err := p.Detach(&twice); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(orig, twice, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Attach then Detach (-original +got):\n%s", diff)
			}
			if err := p.Detach(&twice); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(orig, twice, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("second Detach (-original +got):\n%s", diff)
			}
		})
	}
}

func TestAttachDoesNotWriteSharedArrays(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			spec := appPod()
			// Spare capacity tempts append into the shared arrays.
			spec.Containers = append(make([]corev1.Container, 0, 10), spec.Containers...)
			spec.Containers[0].Env = make([]corev1.EnvVar, 0, 10)
			spec.Volumes = append(make([]corev1.Volume, 0, 10), spec.Volumes...)
			shared := spec // shares every slice with spec
			before := *spec.DeepCopy()
			p := mustNew(t, allWiring(m.opts)...)
			if err := p.Attach(&spec); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(before, shared); diff != "" {
				t.Errorf("Attach wrote through to a spec sharing the arrays (-before +after):\n%s", diff)
			}
			// Writes past len are invisible to cmp but clobber whatever the
			// other holder appends next.
			if spare := shared.Containers[:3][2]; spare.Name != "" {
				t.Errorf("Attach wrote container %q into spare capacity of a shared array", spare.Name)
			}
			if spare := shared.Containers[0].Env[:1][0]; spare.Name != "" {
				t.Errorf("Attach wrote env %q into spare capacity of a shared array", spare.Name)
			}
			if spare := shared.Volumes[:2][1]; spare.Name != "" {
				t.Errorf("Attach wrote volume %q into spare capacity of a shared array", spare.Name)
			}
			attached := spec
			snapshot := *spec.DeepCopy()
			if err := p.Detach(&spec); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(snapshot, attached); diff != "" {
				t.Errorf("Detach wrote through to a spec sharing the arrays (-before +after):\n%s", diff)
			}
		})
	}
}

func TestAttachReplacesAnExistingProxy(t *testing.T) {
	v1Proxy := corev1.Container{Name: DefaultName, Image: "gcr.io/cloudsql-docker/gce-proxy:1.33.2", Command: []string{"/cloud_sql_proxy", "-instances=" + inst + "=tcp:5432"}}
	// A proxy the library built, of an older release: replacing it is an
	// upgrade. A hand-written one (v1Proxy) is adopted first.
	oldV2 := builtProxy(t, "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.20.0")
	tests := []struct {
		name           string
		opts           []Option
		spec           func() corev1.PodSpec
		wantInit       []string
		wantContainers []string
		at             func(corev1.PodSpec) corev1.Container
	}{
		{"plain v1 sidecar migrates to a native one", nil, func() corev1.PodSpec {
			s := appPod()
			s.Containers = append(s.Containers, v1Proxy)
			return s
		}, []string{DefaultName, "migrate"}, []string{"app", "worker"}, func(s corev1.PodSpec) corev1.Container { return s.InitContainers[0] }},
		{"native sidecar later in the init list is replaced where it stands", nil, func() corev1.PodSpec {
			s := appPod()
			s.InitContainers = append(s.InitContainers, oldV2)
			return s
		}, []string{"migrate", DefaultName}, []string{"app", "worker"}, func(s corev1.PodSpec) corev1.Container { return s.InitContainers[1] }},
		{"native back to legacy", []Option{WithLegacySidecar()}, func() corev1.PodSpec {
			s := appPod()
			s.InitContainers = append([]corev1.Container{oldV2}, s.InitContainers...)
			return s
		}, []string{"migrate"}, []string{DefaultName, "app", "worker"}, func(s corev1.PodSpec) corev1.Container { return s.Containers[0] }},
		{"legacy sidecar in the middle stays there", []Option{WithLegacySidecar()}, func() corev1.PodSpec {
			s := appPod()
			s.Containers = []corev1.Container{s.Containers[0], oldV2, s.Containers[1]}
			return s
		}, []string{"migrate"}, []string{"app", DefaultName, "worker"}, func(s corev1.PodSpec) corev1.Container { return s.Containers[1] }},
		{"a custom image counts as the proxy's", []Option{WithImage("mirror.example.com/csql:stable")}, func() corev1.PodSpec {
			s := appPod()
			s.InitContainers = append([]corev1.Container{builtProxy(t, "mirror.example.com/csql:stable")}, s.InitContainers...)
			return s
		}, []string{DefaultName, "migrate"}, []string{"app", "worker"}, func(s corev1.PodSpec) corev1.Container { return s.InitContainers[0] }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := tt.spec()
			p := mustNew(t, tt.opts...)
			if c := findContainer(&spec, DefaultName); c != nil && c.Image == v1Proxy.Image {
				insts, opts, err := FromContainer(*c, spec.Volumes)
				if err != nil {
					t.Fatal(err)
				}
				p = mustNewFor(t, insts[0], append(opts, tt.opts...)...)
			}
			if err := p.Attach(&spec); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantInit, names(spec.InitContainers)); diff != "" {
				t.Errorf("initContainers (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantContainers, names(spec.Containers)); diff != "" {
				t.Errorf("containers (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(p.Container(), tt.at(spec)); diff != "" {
				t.Errorf("proxy container (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAttachConflicts(t *testing.T) {
	bad := string(field.ErrorTypeInvalid)
	tests := []struct {
		name    string
		opts    []Option
		edit    func(*corev1.PodSpec)
		want    []string // field: type
		mention []string
	}{
		{"app declares the listener port", nil, func(s *corev1.PodSpec) {
			s.Containers[1].Ports = []corev1.ContainerPort{{ContainerPort: 5432}}
		}, []string{"containers[1].ports[0].containerPort: " + bad}, []string{`"worker"`, "5432", "listener"}},
		{"init container declares the health port", nil, func(s *corev1.PodSpec) {
			s.InitContainers[0].Ports = []corev1.ContainerPort{{ContainerPort: 9801}}
		}, []string{"initContainers[0].ports[0].containerPort: " + bad}, []string{`"migrate"`, "9801", "health"}},
		{"app uses the health port name", nil, func(s *corev1.PodSpec) {
			s.Containers[0].Ports = append(s.Containers[0].Ports, corev1.ContainerPort{Name: HealthPortName, ContainerPort: 7000})
		}, []string{"containers[0].ports[1].name: " + bad}, []string{HealthPortName}},
		{"app declares the admin port", []Option{WithQuitQuitQuit()}, func(s *corev1.PodSpec) {
			s.Containers[0].Ports = append(s.Containers[0].Ports, corev1.ContainerPort{ContainerPort: 9091})
		}, []string{"containers[0].ports[1].containerPort: " + bad}, []string{"9091", "admin"}},
		{"admin port is free without an admin server", nil, func(s *corev1.PodSpec) {
			s.Containers[0].Ports = append(s.Containers[0].Ports, corev1.ContainerPort{ContainerPort: 9091})
		}, nil, nil},
		{"a hand-written v2 proxy under upstream's name", nil, func(s *corev1.PodSpec) {
			s.Containers = append(s.Containers, corev1.Container{Name: "cloud-sql-proxy", Image: "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.1",
				Args: []string{"--port=5432", "my-project:us-central1:db"}})
		}, []string{"containers[2].name: " + bad}, []string{`"cloud-sql-proxy"`, "v2", "WithName"}},
		{"a hand-written proxy under the proxy's own name", nil, func(s *corev1.PodSpec) {
			s.Containers = append(s.Containers, corev1.Container{Name: DefaultName, Image: "gcr.io/cloudsql-docker/gce-proxy:1.33.2",
				Command: []string{"/cloud_sql_proxy", "-instances=" + inst + "=tcp:5432", "-enable_iam_login"}})
		}, []string{"containers[2]: " + string(field.ErrorTypeForbidden)}, []string{"drop its settings", "FromContainer"}},
		{"a hand-written lookalike whose health server listens on localhost only", nil, func(s *corev1.PodSpec) {
			// Everything the library's own container has but the health
			// address: replacing it would move the health server to 0.0.0.0.
			s.Containers = append(s.Containers, corev1.Container{Name: DefaultName, Image: DefaultImage,
				Ports: []corev1.ContainerPort{{Name: HealthPortName, ContainerPort: 9801}},
				Args:  []string{"--health-check", "--http-address=127.0.0.1", "--http-port=9801", "--exit-zero-on-sigterm", "--structured-logs", "--port=5432", inst}})
		}, []string{"containers[2]: " + string(field.ErrorTypeForbidden)}, []string{"drop its settings", "FromContainer"}},
		{"a v1 proxy run through a shell", nil, func(s *corev1.PodSpec) {
			s.Containers = append(s.Containers, corev1.Container{Name: "sql", Image: "alpine:3",
				Command: []string{"/bin/sh", "-c", "/cloud_sql_proxy -instances=my-project:us-central1:db=tcp:5432"}})
		}, []string{"containers[2].name: " + bad}, []string{`"sql"`, "v1"}},
		{"an app that only names the proxy in an argument", nil, func(s *corev1.PodSpec) {
			s.Containers[1].Args = []string{"--wait-for=cloud-sql-proxy"}
		}, nil, nil},
		{"another container with the proxy's name", nil, func(s *corev1.PodSpec) {
			s.Containers[1].Name = DefaultName
		}, []string{"containers[1].image: " + bad}, []string{"does not run a Cloud SQL Auth Proxy image", "example.com/app:1"}},
		{"proxy name in both lists", nil, func(s *corev1.PodSpec) {
			s.InitContainers[0] = builtProxy(t, DefaultImage)
			s.Containers[1] = builtProxy(t, DefaultImage)
		}, []string{"containers[1].name: " + string(field.ErrorTypeDuplicate)}, nil},
		{"proxy name twice in one list", nil, func(s *corev1.PodSpec) {
			s.Containers = append(s.Containers, builtProxy(t, DefaultImage), corev1.Container{Name: DefaultName})
		}, []string{"containers[3].name: " + string(field.ErrorTypeDuplicate)}, nil},
		{"ephemeral container with the proxy's name", nil, func(s *corev1.PodSpec) {
			s.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: DefaultName, Image: "busybox"}}}
		}, []string{"ephemeralContainers[0].name: " + string(field.ErrorTypeDuplicate)}, nil},
		{"volume of the proxy's name with other content", []Option{WithUnixSocket("/cloudsql")}, func(s *corev1.PodSpec) {
			s.Volumes = append(s.Volumes, corev1.Volume{Name: "cloudsql-proxy-sockets", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp"}}})
		}, []string{"volumes[1]: " + bad}, []string{"cloudsql-proxy-sockets"}},
		{"env var set to another value", []Option{WithAppEnv(inst, AppEnv{Host: "DB_HOST"})}, func(s *corev1.PodSpec) {
			s.Containers[1].Env = []corev1.EnvVar{{Name: "DB_HOST", Value: "10.0.0.5"}}
		}, []string{"containers[1].env[0].value: " + bad}, []string{`"worker"`, "DB_HOST", "10.0.0.5", "127.0.0.1"}},
		{"env var from a secret", []Option{WithAppEnv(inst, AppEnv{Port: "DB_PORT"})}, func(s *corev1.PodSpec) {
			s.InitContainers[0].Env = append(s.InitContainers[0].Env, corev1.EnvVar{Name: "DB_PORT", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "port"}}})
		}, []string{"initContainers[0].env[1].value: " + bad}, []string{"DB_PORT"}},
		// Detach removes what equals the proxy's: a pod without the proxy may not
		// have it already, or Detach would take the pod's own copy too.
		{"env var already set to the proxy's value", []Option{WithAppEnv(inst, AppEnv{Port: "DB_PORT"})}, func(s *corev1.PodSpec) {
			s.Containers[0].Env = []corev1.EnvVar{{Name: "DB_PORT", Value: "5432"}}
		}, []string{"containers[0].env[0].name: " + bad}, []string{`"app"`, "DB_PORT", "taking the proxy out removes it"}},
		{"env var at the proxy's value in an init container a legacy proxy leaves alone", []Option{WithLegacySidecar(), WithAppEnv(inst, AppEnv{Host: "DB_HOST"})}, func(s *corev1.PodSpec) {
			s.InitContainers[0].Env = []corev1.EnvVar{{Name: "DB_HOST", Value: "127.0.0.1"}}
		}, []string{"initContainers[0].env[0].name: " + bad}, []string{`"migrate"`, "DB_HOST"}},
		{"socket mount and volume already there", []Option{WithUnixSocket("/cloudsql")}, func(s *corev1.PodSpec) {
			s.Volumes = append(s.Volumes, corev1.Volume{Name: "cloudsql-proxy-sockets", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
			s.Containers[1].VolumeMounts = []corev1.VolumeMount{{Name: "cloudsql-proxy-sockets", MountPath: "/cloudsql"}}
		}, []string{"containers[1].volumeMounts[0].mountPath: " + bad, "volumes[1].name: " + bad}, []string{`"worker"`, "cloudsql-proxy-sockets"}},
		{"credentials volume already there", []Option{WithCredentialsSecret("sa")}, func(s *corev1.PodSpec) {
			s.Volumes = mustNew(t, WithCredentialsSecret("sa")).Volumes()
		}, []string{"volumes[0].name: " + bad}, []string{"cloudsql-proxy-credentials"}},
		{"env var of init containers ignored in legacy mode", []Option{WithLegacySidecar(), WithAppEnv(inst, AppEnv{Host: "DB_HOST"})}, func(s *corev1.PodSpec) {
			s.InitContainers[0].Env = []corev1.EnvVar{{Name: "DB_HOST", Value: "db.internal"}}
		}, nil, nil},
		{"socket dir already mounted", []Option{WithUnixSocket("/cloudsql")}, func(s *corev1.PodSpec) {
			s.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/cloudsql"}}
		}, []string{"containers[0].volumeMounts[0].mountPath: " + bad}, []string{`"data"`}},
		{"job in a pod that never completes", []Option{ForJob(0)}, func(s *corev1.PodSpec) {
			s.RestartPolicy = corev1.RestartPolicyAlways
		}, []string{"restartPolicy: " + bad}, []string{"Always"}},
		{"job in a pod with the default restart policy", []Option{ForJob(0)}, func(s *corev1.PodSpec) {
			s.RestartPolicy = ""
		}, []string{"restartPolicy: " + bad}, nil},
		{"host network", nil, func(s *corev1.PodSpec) {
			s.HostNetwork = true
		}, []string{"hostNetwork: " + bad}, nil},
		{"windows pod", nil, func(s *corev1.PodSpec) {
			s.OS = &corev1.PodOS{Name: corev1.Windows}
		}, []string{"os.name: " + bad}, []string{"windows", "Linux-only"}},
		{"linux pod", nil, func(s *corev1.PodSpec) {
			s.OS = &corev1.PodOS{Name: corev1.Linux}
		}, nil, nil},
		{"block device at the socket dir", []Option{WithUnixSocket("/cloudsql")}, func(s *corev1.PodSpec) {
			s.Containers[1].VolumeDevices = []corev1.VolumeDevice{{Name: "raw", DevicePath: "/dev/raw"}, {Name: "data", DevicePath: "/cloudsql"}}
		}, []string{"containers[1].volumeDevices[1].devicePath: " + bad}, []string{`"worker"`, `"data"`, "/cloudsql"}},
		{"everything at once", []Option{ForJob(0), WithAppEnv(inst, AppEnv{Host: "DB_HOST"})}, func(s *corev1.PodSpec) {
			s.RestartPolicy = corev1.RestartPolicyAlways
			s.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 5432}, {ContainerPort: 9091}}
			s.Containers[1].Env = []corev1.EnvVar{{Name: "DB_HOST", Value: "x"}}
		}, []string{"restartPolicy: " + bad, "containers[0].ports[0].containerPort: " + bad, "containers[0].ports[1].containerPort: " + bad, "containers[1].env[0].value: " + bad}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := appPod()
			tt.edit(&spec)
			before := *spec.DeepCopy()
			err := mustNew(t, tt.opts...).Attach(&spec)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Attach: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrConflict) {
				t.Fatalf("Attach error %v does not wrap ErrConflict", err)
			}
			if diff := cmp.Diff(sortedCopy(tt.want), sortedCopy(fieldErrs(t, err))); diff != "" {
				t.Errorf("field errors (-want +got):\n%s\nerror: %v", diff, err)
			}
			for _, m := range tt.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error does not mention %q: %v", m, err)
				}
			}
			if diff := cmp.Diff(before, spec); diff != "" {
				t.Errorf("failed Attach changed the spec (-before +after):\n%s", diff)
			}
		})
	}
}

// TestPodLevelResources runs where the compiled k8s.io/api has pod-level
// resources (the version matrix's newest); the e2e module proves the rule
// against the API server's own validation.
func TestPodLevelResources(t *testing.T) {
	if !reflect.ValueOf(&corev1.PodSpec{}).Elem().FieldByName("Resources").IsValid() {
		if got, known := podres.Of(&corev1.PodSpec{}); got != nil || known {
			t.Errorf("podres.Of without the field = %v, %v; want nil, false", got, known)
		}
		t.Skip("k8s.io/api before v0.32 has no pod-level resources")
	}
	withPodRequests := func(cpu string) corev1.PodSpec {
		spec := appPod()
		r := &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}
		reflect.ValueOf(&spec).Elem().FieldByName("Resources").Set(reflect.ValueOf(r))
		return spec
	}
	spec := withPodRequests("1")
	if err := mustNew(t).Attach(&spec); err != nil {
		t.Errorf("Attach with room for the proxy: %v", err)
	}
	spec = withPodRequests("50m")
	before := *spec.DeepCopy()
	err := mustNew(t).Attach(&spec)
	if diff := cmp.Diff([]string{"resources.requests[cpu]: " + string(field.ErrorTypeInvalid)}, fieldErrs(t, err)); diff != "" {
		t.Errorf("field errors (-want +got):\n%s\nerror: %v", diff, err)
	}
	if diff := cmp.Diff(before, spec); diff != "" {
		t.Errorf("failed Attach changed the spec (-before +after):\n%s", diff)
	}
}

func TestNilPodSpec(t *testing.T) {
	p := mustNew(t)
	if err := p.Attach(nil); !errors.Is(err, ErrNilPodSpec) {
		t.Errorf("Attach(nil) = %v, want ErrNilPodSpec", err)
	}
	if err := p.Detach(nil); !errors.Is(err, ErrNilPodSpec) {
		t.Errorf("Detach(nil) = %v, want ErrNilPodSpec", err)
	}
}

func TestDetach(t *testing.T) {
	t.Run("pod without the proxy is left alone", func(t *testing.T) {
		spec := appPod()
		if err := mustNew(t, allWiring(nil)...).Detach(&spec); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(appPod(), spec); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("refuses to remove another container of the proxy's name", func(t *testing.T) {
		spec := appPod()
		spec.Containers[0].Name = DefaultName
		before := *spec.DeepCopy()
		err := mustNew(t).Detach(&spec)
		if !errors.Is(err, ErrConflict) {
			t.Fatalf("Detach = %v, want ErrConflict", err)
		}
		if diff := cmp.Diff(before, spec); diff != "" {
			t.Errorf("failed Detach changed the spec (-before +after):\n%s", diff)
		}
	})
	t.Run("keeps what the app set itself", func(t *testing.T) {
		p := mustNew(t, WithUnixSocket("/cloudsql"), WithAppEnv(inst, AppEnv{Socket: "DB_SOCKET"}))
		spec := appPod()
		if err := p.Attach(&spec); err != nil {
			t.Fatal(err)
		}
		// The app changed its env after Attach: that value is its own.
		spec.Containers[0].Env[0].Value = "/elsewhere"
		if err := p.Detach(&spec); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"DB_SOCKET=/elsewhere"}, envNames(spec.Containers[0])); diff != "" {
			t.Errorf("app env (-want +got):\n%s", diff)
		}
		if len(spec.Containers[1].Env) != 0 || len(spec.Containers[1].VolumeMounts) != 0 {
			t.Errorf("worker keeps %v / %v, want both removed", spec.Containers[1].Env, spec.Containers[1].VolumeMounts)
		}
	})
	t.Run("removes a legacy v1 proxy by name", func(t *testing.T) {
		spec := appPod()
		spec.Containers = append(spec.Containers, corev1.Container{Name: DefaultName, Image: "gcr.io/cloudsql-docker/gce-proxy:1.33.2"})
		if err := mustNew(t).Detach(&spec); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(appPod(), spec); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}

func builtProxy(t *testing.T, image string) corev1.Container {
	t.Helper()
	return mustNew(t, WithImage(image)).Container()
}

func mustNewFor(t *testing.T, instance string, opts ...Option) *Proxy {
	t.Helper()
	p, err := New(instance, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
