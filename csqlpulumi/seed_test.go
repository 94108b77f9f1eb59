package csqlpulumi_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/podspec/cloudsqlproxy"
)

// The assertions of simple-container-com/api's
// pkg/clouds/pulumi/gcp/cloudsql_proxy_test.go (PR #347), ported to what
// this adapter registers: each test names the test it comes from. There
// they check the hand-built ContainerArgs; here they check the pod spec
// that Pulumi registered, read back into k8s.io/api types, with the seed's
// settings given as options (seedOptions).

const seedInstance = "my-project:europe-north1:inst"

// seedPod registers the seed's runtime Deployment (or its init Job) built
// by the adapter and returns the registered pod spec and the proxy in it.
func seedPod(t *testing.T, job bool, opts ...cloudsqlproxy.Option) (corev1.PodSpec, corev1.Container) {
	t.Helper()
	p, err := cloudsqlproxy.New(seedInstance, append(seedOptions("creds"), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	base := corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.com/app:1"}}}
	if job {
		base = corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{Name: "job", Image: "alpine:latest", Command: []string{"sh", "-c", "psql -c 'GRANT ...'"}}}}
	}
	m, err := run(t, func(ctx *pulumi.Context) error {
		spec, err := podFromProxy(p, base)
		if err != nil {
			return err
		}
		return register(ctx, job, &spec)
	})
	if err != nil {
		t.Fatal(err)
	}
	spec := readBack(t, m, job)
	for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		if c.Name == cloudsqlproxy.DefaultName {
			return spec, c
		}
	}
	t.Fatalf("no proxy container in %+v", spec)
	return spec, corev1.Container{}
}

// From TestCloudsqlProxyCommandArgs_RuntimeEnablesHealthCheck.
func TestSeedRuntimeEnablesHealthCheck(t *testing.T) {
	_, c := seedPod(t, false)
	if diff := cmp.Diff([]string{"/cloud-sql-proxy"}, c.Command); diff != "" {
		t.Errorf("runtime proxy runs the binary directly, no shell wrapper (-want +got):\n%s", diff)
	}
	for _, arg := range []string{
		"--health-check",         // the startup probe needs the health server
		"--http-address=0.0.0.0", // kubelet probes reach the pod IP
		"--http-port=9090",       // the seed's health port
		"--address=0.0.0.0",      // the seed's listen address (seedOptions)
		"--credentials-file=/var/run/secrets/cloudsql/credentials.json", // matches the mount below
	} {
		if !slices.Contains(c.Args, arg) {
			t.Errorf("args %q lack %q", c.Args, arg)
		}
	}
	if !slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, seedInstance+"?") || a == seedInstance }) {
		t.Errorf("args %q lack the instance connection name %s", c.Args, seedInstance)
	}
	if slices.Contains(c.Args, "-c") {
		t.Errorf("args %q: the runtime proxy must not be wrapped in a shell", c.Args)
	}
}

// From TestCloudsqlProxyContainerArgs_RuntimeIsNativeSidecar.
func TestSeedRuntimeIsNativeSidecar(t *testing.T) {
	_, c := seedPod(t, false)
	if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Errorf("restartPolicy = %v, want Always (a native sidecar)", c.RestartPolicy)
	}
	if c.StartupProbe == nil || c.ReadinessProbe == nil || c.LivenessProbe == nil {
		t.Errorf("probes startup %v, readiness %v, liveness %v: want all three", c.StartupProbe, c.ReadinessProbe, c.LivenessProbe)
	}
	if len(c.Ports) == 0 {
		t.Error("no declared port for the probes to target")
	}
}

// From TestCloudsqlProxyContainerArgs_RuntimeProbeWiring: each probe targets
// the declared health port by name, with the seed's paths and budget.
func TestSeedRuntimeProbeWiring(t *testing.T) {
	_, c := seedPod(t, false)
	wantPorts := []corev1.ContainerPort{{Name: cloudsqlproxy.HealthPortName, ContainerPort: 9090, Protocol: corev1.ProtocolTCP}}
	if diff := cmp.Diff(wantPorts, c.Ports); diff != "" {
		t.Fatalf("ports (-want +got):\n%s", diff)
	}
	named := intstr.FromString(c.Ports[0].Name)
	for _, tt := range []struct {
		probe *corev1.Probe
		path  string
	}{{c.StartupProbe, "/startup"}, {c.ReadinessProbe, "/readiness"}, {c.LivenessProbe, "/liveness"}} {
		if tt.probe == nil || tt.probe.HTTPGet == nil {
			t.Errorf("no httpGet probe on %s", tt.path)
			continue
		}
		if tt.probe.HTTPGet.Path != tt.path || tt.probe.HTTPGet.Port != named {
			t.Errorf("probe %s on port %v, want %s on the declared port %v", tt.probe.HTTPGet.Path, tt.probe.HTTPGet.Port.String(), tt.path, named.String())
		}
	}
	if got := c.StartupProbe.FailureThreshold; got != 30 {
		t.Errorf("startup failureThreshold = %d, want 30 (period 2s x 30 = 60s)", got)
	}
}

// From TestCloudsqlProxyContainerArgs_MountsCredentialSecret: the mount
// names the pod volume that holds the Secret (in the seed the two shared
// the Secret's name; here the volume is named after the container).
func TestSeedMountsCredentialSecret(t *testing.T) {
	spec, c := seedPod(t, false)
	if len(c.VolumeMounts) != 1 {
		t.Fatalf("mounts = %+v, want one", c.VolumeMounts)
	}
	m := c.VolumeMounts[0]
	if m.MountPath != "/var/run/secrets/cloudsql" || !m.ReadOnly {
		t.Errorf("mount %+v, want read-only at /var/run/secrets/cloudsql", m)
	}
	i := slices.IndexFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == m.Name })
	if i < 0 || spec.Volumes[i].Secret == nil || spec.Volumes[i].Secret.SecretName != "creds" {
		t.Errorf("volumes %+v: want %q to be the Secret creds", spec.Volumes, m.Name)
	}
}

// From TestAttachCloudsqlProxyAsNativeSidecar_LandsInInitContainers.
func TestSeedLandsInInitContainers(t *testing.T) {
	spec, _ := seedPod(t, false)
	names := func(cs []corev1.Container) (out []string) {
		for _, c := range cs {
			out = append(out, c.Name)
		}
		return out
	}
	if diff := cmp.Diff([]string{cloudsqlproxy.DefaultName}, names(spec.InitContainers)); diff != "" {
		t.Errorf("init containers (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"app"}, names(spec.Containers)); diff != "" {
		t.Errorf("containers: the proxy must not be among them (-want +got):\n%s", diff)
	}
	if len(spec.Volumes) != 1 {
		t.Errorf("volumes = %+v, want the credential Secret's alone", spec.Volumes)
	}
}

// From TestCloudsqlProxyCommandArgs_InitJobSelfKills and
// TestCloudsqlProxyContainerArgs_InitJobIsNotSidecar. The seed's init Job
// ran the proxy under "sleep; kill -9" so that the Job could complete. Its
// replacement is the native sidecar, which the kubelet stops once the
// Job's container is done: it belongs in the init containers, the Job's
// own container alone in the regular ones. For clusters without native
// sidecars, ForJob(timeout) is the Job-mode proxy: a regular container
// without restartPolicy, stopped by SIGTERM after the timeout (not kill
// -9, which would lose the exit status). Unlike the seed's, it does serve
// health checks, so its probes and port stay: they are valid on a regular
// container, where the seed's concern (restartPolicy) is absent.
func TestSeedInitJob(t *testing.T) {
	t.Run("native sidecar", func(t *testing.T) {
		spec, c := seedPod(t, true)
		if len(spec.InitContainers) != 1 || spec.InitContainers[0].Name != c.Name {
			t.Errorf("init containers %v: want the proxy alone", spec.InitContainers)
		}
		if len(spec.Containers) != 1 || spec.Containers[0].Name != "job" || spec.RestartPolicy != corev1.RestartPolicyNever {
			t.Errorf("containers %v, restartPolicy %q: want the job alone, Never", spec.Containers, spec.RestartPolicy)
		}
		if !slices.Contains(c.Args, "--exit-zero-on-sigterm") {
			t.Errorf("args %q: a stopped sidecar must exit 0", c.Args)
		}
	})
	t.Run("ForJob with timeout", func(t *testing.T) {
		spec, c := seedPod(t, true, cloudsqlproxy.ForJob(30*time.Second))
		if c.RestartPolicy != nil || len(spec.InitContainers) != 0 || spec.Containers[0].Name != c.Name {
			t.Errorf("restartPolicy %v, init containers %v: want a regular first container", c.RestartPolicy, spec.InitContainers)
		}
		if len(c.Command) < 6 || c.Command[0] != "/bin/sh" || c.Command[1] != "-c" || c.Command[4] != "30" {
			t.Fatalf("command %q: want the shell wrapper with a 30s timeout", c.Command)
		}
		script := c.Command[2]
		if !strings.Contains(script, "kill -TERM") || strings.Contains(script, "kill -9") {
			t.Errorf("wrapper %q: want SIGTERM, not kill -9", script)
		}
		argv := strings.Join(c.Command[5:], " ")
		for _, want := range []string{seedInstance, "--credentials-file=/var/run/secrets/cloudsql/credentials.json"} {
			if !strings.Contains(argv, want) {
				t.Errorf("proxy argv %q lacks %q", argv, want)
			}
		}
		if !strings.HasSuffix(c.Image, "-alpine") {
			t.Errorf("image %q: the wrapper needs /bin/sh", c.Image)
		}
	})
}
