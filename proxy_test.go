package cloudsqlproxy

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

const inst = "my-project:us-central1:db"

// base is the argument list every default proxy starts with.
var base = []string{"--structured-logs", "--health-check", "--http-address=0.0.0.0", "--http-port=9801", "--exit-zero-on-sigterm"}

func withBase(extra ...string) []string { return append(append([]string(nil), base...), extra...) }

func TestArgs(t *testing.T) {
	tests := []struct {
		name string
		inst string
		opts []Option
		want []string
	}{
		{"defaults", inst, nil, withBase("--address=127.0.0.1", inst+"?port=5432")},
		{"port", inst, []Option{WithPort(6000)}, withBase("--address=127.0.0.1", inst+"?port=6000")},
		{"port in query", inst + "?port=6001", nil, withBase("--address=127.0.0.1", inst+"?port=6001")},
		{"port in query equal to WithPort", inst + "?port=6001", []Option{WithPort(6001)}, withBase("--address=127.0.0.1", inst+"?port=6001")},
		{"more instances count up", inst, []Option{WithInstance("my-project:us-central1:db2"), WithInstance("other-project:europe-west1:db3?port=7000&private-ip=true"), WithInstance("my-project:us-central1:db4")},
			withBase("--address=127.0.0.1", inst+"?port=5432", "my-project:us-central1:db2?port=5433", "other-project:europe-west1:db3?port=7000&private-ip=true", "my-project:us-central1:db4?port=7001")},
		{"per-instance flags normalised", inst + "?auto-iam-authn&psc=T", nil, withBase("--address=127.0.0.1", inst+"?port=5432&psc=true&auto-iam-authn=true")},
		{"per-instance false", inst + "?private-ip=false", []Option{WithPSC()}, withBase("--address=127.0.0.1", "--psc", inst+"?port=5432&private-ip=false")},
		{"domain-scoped project", "example.com:my-project:us-central1:db", nil, withBase("--address=127.0.0.1", "example.com:my-project:us-central1:db?port=5432")},
		{"health port", inst, []Option{WithHealthPort(9090)},
			[]string{"--structured-logs", "--health-check", "--http-address=0.0.0.0", "--http-port=9090", "--exit-zero-on-sigterm", "--address=127.0.0.1", inst + "?port=5432"}},
		{"listen address", inst, []Option{WithListenAddress("0.0.0.0")}, withBase("--address=0.0.0.0", inst+"?port=5432")},
		{"ipv6 listen address", inst, []Option{WithListenAddress("::1")}, withBase("--address=::1", inst+"?port=5432")},
		{"private ip", inst, []Option{WithPrivateIP()}, withBase("--address=127.0.0.1", "--private-ip", inst+"?port=5432")},
		{"psc", inst, []Option{WithPSC()}, withBase("--address=127.0.0.1", "--psc", inst+"?port=5432")},
		{"auto iam authn", inst, []Option{WithAutoIAMAuthn()}, withBase("--address=127.0.0.1", "--auto-iam-authn", inst+"?port=5432")},
		{"unix socket", inst, []Option{WithUnixSocket("/cloudsql"), WithInstance("my-project:us-central1:db2")}, withBase("--unix-socket=/cloudsql", inst, "my-project:us-central1:db2")},
		{"credentials secret", inst, []Option{WithCredentialsSecret("sa-key")}, withBase("--address=127.0.0.1", "--credentials-file=/var/run/secrets/cloudsql/credentials.json", inst+"?port=5432")},
		{"credentials secret key", inst, []Option{WithCredentialsSecret("sa-key"), WithCredentialsSecretKey("key.json")}, withBase("--address=127.0.0.1", "--credentials-file=/var/run/secrets/cloudsql/key.json", inst+"?port=5432")},
		{"impersonation chain", inst, []Option{WithImpersonation("a@p.iam.gserviceaccount.com", "b@p.iam.gserviceaccount.com")},
			withBase("--address=127.0.0.1", "--impersonate-service-account=a@p.iam.gserviceaccount.com,b@p.iam.gserviceaccount.com", inst+"?port=5432")},
		{"lazy refresh", inst, []Option{WithLazyRefresh()}, withBase("--address=127.0.0.1", "--lazy-refresh", inst+"?port=5432")},
		{"max connections", inst, []Option{WithMaxConnections(50)}, withBase("--address=127.0.0.1", "--max-connections=50", inst+"?port=5432")},
		{"sigterm delays", inst, []Option{WithMinSigtermDelay(5 * time.Second), WithMaxSigtermDelay(90 * time.Second)},
			withBase("--address=127.0.0.1", "--min-sigterm-delay=5s", "--max-sigterm-delay=1m30s", inst+"?port=5432")},
		{"quiet", inst, []Option{WithQuiet()},
			[]string{"--structured-logs", "--quiet", "--health-check", "--http-address=0.0.0.0", "--http-port=9801", "--exit-zero-on-sigterm", "--address=127.0.0.1", inst + "?port=5432"}},
		{"debug logs", inst, []Option{WithDebugLogs()},
			[]string{"--structured-logs", "--debug-logs", "--health-check", "--http-address=0.0.0.0", "--http-port=9801", "--exit-zero-on-sigterm", "--address=127.0.0.1", inst + "?port=5432"}},
		{"prometheus", inst, []Option{WithPrometheus("csql")},
			[]string{"--structured-logs", "--health-check", "--http-address=0.0.0.0", "--http-port=9801", "--prometheus", "--prometheus-namespace=csql", "--exit-zero-on-sigterm", "--address=127.0.0.1", inst + "?port=5432"}},
		{"prometheus without namespace", inst, []Option{WithPrometheus("")},
			[]string{"--structured-logs", "--health-check", "--http-address=0.0.0.0", "--http-port=9801", "--prometheus", "--exit-zero-on-sigterm", "--address=127.0.0.1", inst + "?port=5432"}},
		{"telemetry", inst, []Option{WithTelemetry(Telemetry{Project: "my-project", Prefix: "csql/", SampleRate: 100, DisableMetrics: true, DisableTraces: true})},
			withBase("--address=127.0.0.1", "--telemetry-project=my-project", "--telemetry-prefix=csql/", "--telemetry-sample-rate=100", "--disable-metrics", "--disable-traces", inst+"?port=5432")},
		{"quitquitquit", inst, []Option{WithQuitQuitQuit()}, withBase("--address=127.0.0.1", "--quitquitquit", "--admin-port=9091", inst+"?port=5432")},
		{"debug server on admin port", inst, []Option{WithDebugServer(), WithAdminPort(9200)}, withBase("--address=127.0.0.1", "--debug", "--admin-port=9200", inst+"?port=5432")},
		{"admin port alone is unused", inst, []Option{WithAdminPort(9200)}, withBase("--address=127.0.0.1", inst+"?port=5432")},
		{"sql admin endpoint", inst, []Option{WithSQLAdminAPIEndpoint("https://sqladmin.mtls.googleapis.com")}, withBase("--address=127.0.0.1", "--sqladmin-api-endpoint=https://sqladmin.mtls.googleapis.com", inst+"?port=5432")},
		{"universe domain", inst, []Option{WithUniverseDomain("example.goog")}, withBase("--address=127.0.0.1", "--universe-domain=example.goog", inst+"?port=5432")},
		{"quota project", inst, []Option{WithQuotaProject("billing-project")}, withBase("--address=127.0.0.1", "--quota-project=billing-project", inst+"?port=5432")},
		{"dollar signs survive the kubelet's $(VAR) expansion", inst, []Option{WithSQLAdminAPIEndpoint("https://x.example.com/$(HOME)/$$"), WithTelemetry(Telemetry{Project: "my-project", Prefix: "a$b"})},
			withBase("--address=127.0.0.1", "--telemetry-project=my-project", "--telemetry-prefix=a$$b", "--sqladmin-api-endpoint=https://x.example.com/$$(HOME)/$$$$", inst+"?port=5432")},
		{"job", inst, []Option{ForJob(0)}, withBase("--address=127.0.0.1", "--quitquitquit", "--admin-port=9091", inst+"?port=5432")},
		{"nil option ignored", inst, []Option{nil}, withBase("--address=127.0.0.1", inst+"?port=5432")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.inst, tt.opts...)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			c := p.Container()
			if diff := cmp.Diff([]string{"/cloud-sql-proxy"}, c.Command); diff != "" {
				t.Errorf("Command (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, c.Args); diff != "" {
				t.Errorf("Args (-want +got):\n%s", diff)
			}
		})
	}
}

// TestContainerFields covers the options that shape the container rather
// than the proxy's flags.
func TestContainerFields(t *testing.T) {
	res := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
	}
	tests := []struct {
		name  string
		opts  []Option
		check func(t *testing.T, c corev1.Container)
	}{
		{"name", []Option{WithName("db-proxy")}, func(t *testing.T, c corev1.Container) {
			if c.Name != "db-proxy" {
				t.Errorf("Name = %q, want db-proxy", c.Name)
			}
		}},
		{"image", []Option{WithImage("us.gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.20.0")}, func(t *testing.T, c corev1.Container) {
			if c.Image != "us.gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.20.0" {
				t.Errorf("Image = %q", c.Image)
			}
		}},
		{"pull policy", []Option{WithImagePullPolicy(corev1.PullAlways)}, func(t *testing.T, c corev1.Container) {
			if c.ImagePullPolicy != corev1.PullAlways {
				t.Errorf("ImagePullPolicy = %q", c.ImagePullPolicy)
			}
		}},
		{"resources", []Option{WithResources(res)}, func(t *testing.T, c corev1.Container) {
			if diff := cmp.Diff(res, c.Resources); diff != "" {
				t.Errorf("Resources (-want +got):\n%s", diff)
			}
		}},
		{"probe timings", []Option{
			WithStartupProbe(ProbeTiming{PeriodSeconds: 2, FailureThreshold: 30}),
			WithLivenessProbe(ProbeTiming{InitialDelaySeconds: 3, TimeoutSeconds: 20}),
			WithReadinessProbe(ProbeTiming{FailureThreshold: 5}),
		}, func(t *testing.T, c corev1.Container) {
			got := [][4]int32{}
			for _, p := range []*corev1.Probe{c.StartupProbe, c.LivenessProbe, c.ReadinessProbe} {
				got = append(got, [4]int32{p.InitialDelaySeconds, p.PeriodSeconds, p.TimeoutSeconds, p.FailureThreshold})
			}
			want := [][4]int32{{0, 2, 5, 30}, {3, 10, 20, 3}, {0, 10, 5, 5}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("probe timings [delay period timeout failure] (-want +got):\n%s", diff)
			}
			if c.ReadinessProbe.HTTPGet.Path != "/readiness" {
				t.Errorf("readiness path = %q", c.ReadinessProbe.HTTPGet.Path)
			}
		}},
		{"no readiness probe by default", nil, func(t *testing.T, c corev1.Container) {
			if c.ReadinessProbe != nil {
				t.Errorf("ReadinessProbe = %+v, want none", c.ReadinessProbe)
			}
		}},
		{"legacy wait hook follows the startup budget", []Option{WithLegacySidecar(), WithHealthPort(9500), WithStartupProbe(ProbeTiming{InitialDelaySeconds: 5, PeriodSeconds: 2, FailureThreshold: 10})},
			func(t *testing.T, c corev1.Container) {
				want := []string{"/cloud-sql-proxy", "wait", "--http-address=127.0.0.1", "--http-port=9500", "--max=25s"}
				if diff := cmp.Diff(want, c.Lifecycle.PostStart.Exec.Command); diff != "" {
					t.Errorf("postStart (-want +got):\n%s", diff)
				}
				if c.RestartPolicy != nil {
					t.Errorf("RestartPolicy = %v, want none on a regular container", *c.RestartPolicy)
				}
			}},
		{"huge probe timings do not overflow the wait budget", []Option{WithLegacySidecar(), WithStartupProbe(ProbeTiming{PeriodSeconds: 1 << 30, FailureThreshold: 1 << 30})},
			func(t *testing.T, c corev1.Container) {
				if got, want := c.Lifecycle.PostStart.Exec.Command[4], "--max=2147483647s"; got != want {
					t.Errorf("wait budget %s, want %s", got, want)
				}
			}},
		{"job timeout wraps in a shell", []Option{ForJob(90 * time.Second)}, func(t *testing.T, c corev1.Container) {
			if c.Image != DefaultImage+"-alpine" {
				t.Errorf("Image = %q, want the alpine variant", c.Image)
			}
			want := append([]string{"/bin/sh", "-c", jobScript, "cloudsql-proxy", "90", "/cloud-sql-proxy"}, withBase("--address=127.0.0.1", "--quitquitquit", "--admin-port=9091", inst+"?port=5432")...)
			if diff := cmp.Diff(want, c.Command); diff != "" {
				t.Errorf("Command (-want +got):\n%s", diff)
			}
			if c.Args != nil {
				t.Errorf("Args = %q, want none", c.Args)
			}
		}},
		{"job timeout keeps a custom alpine image", []Option{ForJob(time.Minute), WithImage("eu.gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.20.0-alpine")}, func(t *testing.T, c corev1.Container) {
			if c.Image != "eu.gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.20.0-alpine" {
				t.Errorf("Image = %q", c.Image)
			}
		}},
		{"job script has nothing the kubelet would expand", []Option{ForJob(time.Minute)}, func(t *testing.T, c corev1.Container) {
			if strings.Contains(c.Command[2], "$(") || strings.Contains(c.Command[2], "$$") {
				t.Errorf("the kubelet would rewrite the Job script:\n%s", c.Command[2])
			}
		}},
		{"credentials volume mount", []Option{WithCredentialsSecret("sa-key")}, func(t *testing.T, c corev1.Container) {
			want := []corev1.VolumeMount{{Name: "cloudsql-proxy-credentials", MountPath: "/var/run/secrets/cloudsql", ReadOnly: true}}
			if diff := cmp.Diff(want, c.VolumeMounts); diff != "" {
				t.Errorf("VolumeMounts (-want +got):\n%s", diff)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(inst, tt.opts...)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			tt.check(t, p.Container())
		})
	}
}

func TestVolumes(t *testing.T) {
	mode := int32(0o444)
	p, err := New(inst, WithName("db"), WithUnixSocket("/cloudsql"), WithCredentialsSecret("sa-key"))
	if err != nil {
		t.Fatal(err)
	}
	want := []corev1.Volume{
		{Name: "db-sockets", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "db-credentials", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sa-key", DefaultMode: &mode}}},
	}
	if diff := cmp.Diff(want, p.Volumes()); diff != "" {
		t.Errorf("Volumes (-want +got):\n%s", diff)
	}
	// Volumes hands out copies: changing one must not reach the Proxy.
	p.Volumes()[1].Secret.SecretName = "changed"
	if diff := cmp.Diff(want, p.Volumes()); diff != "" {
		t.Errorf("Volumes after mutating a copy (-want +got):\n%s", diff)
	}
	plain, _ := New(inst)
	if v := plain.Volumes(); v != nil {
		t.Errorf("Volumes() = %v, want nil without sockets or credentials", v)
	}
}

// fieldErrs returns "field: type" for every field error inside err.
func fieldErrs(t *testing.T, err error) []string {
	t.Helper()
	var agg utilerrors.Aggregate
	if !errors.As(err, &agg) {
		t.Fatalf("error %v carries no field errors", err)
	}
	var out []string
	for _, e := range agg.Errors() {
		var fe *field.Error
		if !errors.As(e, &fe) {
			t.Fatalf("%v is not a *field.Error", e)
		}
		out = append(out, fe.Field+": "+string(fe.Type))
	}
	return out
}

func TestNewRejects(t *testing.T) {
	bad := field.ErrorTypeInvalid
	tests := []struct {
		name    string
		inst    string
		opts    []Option
		want    []string // field: type
		mention []string // values the message must name
		version bool
	}{
		{"empty instance", "", nil, []string{"instance: " + string(field.ErrorTypeRequired)}, nil, false},
		{"not a connection name", "db", nil, []string{"instance: " + string(bad)}, []string{`"db"`}, false},
		{"upper case", "My-Project:us-central1:db", nil, []string{"instance: " + string(bad)}, []string{"My-Project"}, false},
		{"shell in instance", inst + "$(reboot)", nil, []string{"instance: " + string(bad)}, []string{"$(reboot)"}, false},
		{"unknown query key", inst + "?prot=5433", nil, []string{"instance[prot]: " + string(field.ErrorTypeNotSupported)}, []string{"prot"}, false},
		{"address query key", inst + "?address=0.0.0.0", nil, []string{"instance[address]: " + string(field.ErrorTypeNotSupported)}, nil, false},
		{"bad query port", inst + "?port=99999", nil, []string{"instance[port]: " + string(bad)}, []string{"99999"}, false},
		{"repeated query key", inst + "?port=1&port=2", nil, []string{"instance[port]: " + string(bad)}, nil, false},
		{"bad bool", inst + "?private-ip=yes", nil, []string{"instance[private-ip]: " + string(bad)}, []string{"yes"}, false},
		{"private-ip and psc in query", inst + "?private-ip=true&psc=false", nil, []string{"instance: " + string(bad)}, nil, false},
		{"query psc with WithPrivateIP", inst + "?psc=true", []Option{WithPrivateIP()}, []string{"instance[psc]: " + string(bad)}, nil, false},
		{"query private-ip with WithPSC", inst + "?private-ip=true", []Option{WithPSC()}, []string{"instance[private-ip]: " + string(bad)}, nil, false},
		{"query private-ip with WithAutoIP", inst + "?private-ip=true", []Option{WithAutoIP()}, []string{"instance[private-ip]: " + string(bad)}, []string{"WithAutoIP"}, false},
		{"query port with unix socket", inst + "?port=5433", []Option{WithUnixSocket("/cloudsql")}, []string{"instance[port]: " + string(bad)}, nil, false},
		{"WithPort against query port", inst + "?port=5433", []Option{WithPort(5432)}, []string{"WithPort: " + string(bad)}, []string{"5433"}, false},
		{"duplicate instance", inst, []Option{WithInstance(inst + "?port=6000")}, []string{"WithInstance[0]: " + string(field.ErrorTypeDuplicate)}, nil, false},
		{"bad second instance", inst, []Option{WithInstance("nope")}, []string{"WithInstance[0]: " + string(bad)}, []string{"nope"}, false},
		{"port zero", inst, []Option{WithPort(0)}, []string{"WithPort: " + string(bad)}, nil, false},
		{"port range", inst, []Option{WithPort(70000)}, []string{"WithPort: " + string(bad)}, []string{"70000"}, false},
		{"later instance overflows", inst, []Option{WithPort(65535), WithInstance("my-project:us-central1:db2")}, []string{"WithInstance[0][port]: " + string(bad)}, []string{"65536"}, false},
		{"health port range", inst, []Option{WithHealthPort(-1)}, []string{"WithHealthPort: " + string(bad)}, nil, false},
		{"admin port range", inst, []Option{WithAdminPort(0)}, []string{"WithAdminPort: " + string(bad)}, nil, false},
		{"listener on health port", inst, []Option{WithPort(9801)}, []string{"instance[port]: " + string(bad)}, []string{"WithHealthPort"}, false},
		{"listener on admin port", inst, []Option{WithPort(9091), WithQuitQuitQuit()}, []string{"instance[port]: " + string(bad)}, []string{"WithAdminPort"}, false},
		{"listener on admin port of the debug server", inst, []Option{WithPort(9091), WithDebugServer()}, []string{"instance[port]: " + string(bad)}, []string{"WithAdminPort"}, false},
		{"admin on health port", inst, []Option{WithQuitQuitQuit(), WithAdminPort(9801)}, []string{"WithAdminPort: " + string(bad)}, nil, false},
		{"instances collide", inst, []Option{WithInstance("my-project:us-central1:db2?port=5432")}, []string{"WithInstance[0][port]: " + string(bad)}, nil, false},
		{"port with unix socket", inst, []Option{WithPort(5432), WithUnixSocket("/cloudsql")}, []string{"WithPort: " + string(bad)}, nil, false},
		{"bad name", inst, []Option{WithName("Cloud_SQL")}, []string{"WithName: " + string(bad)}, []string{"Cloud_SQL"}, false},
		{"name too long for volume", inst, []Option{WithName(strings.Repeat("a", 60)), WithUnixSocket("/cloudsql")}, []string{"WithName: " + string(field.ErrorTypeTooLong)}, nil, false},
		{"image with space", inst, []Option{WithImage("gcr.io/x y")}, []string{"WithImage: " + string(bad)}, nil, false},
		{"bad proxy version", inst, []Option{WithImage("mirror.example.com/csql@sha256:abc"), WithProxyVersion("latest")}, []string{"WithProxyVersion: " + string(bad)}, []string{"latest"}, false},
		{"too old", inst, []Option{WithImage("gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.5.0")}, []string{"WithImage: " + string(bad)}, []string{"2.5.0", "2.6.0"}, true},
		{"pull policy", inst, []Option{WithImagePullPolicy("Sometimes")}, []string{"WithImagePullPolicy: " + string(field.ErrorTypeNotSupported)}, []string{"Sometimes"}, false},
		{"negative resources", inst, []Option{WithResources(corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("-1")}})},
			[]string{"WithResources.Requests[cpu]: " + string(bad)}, nil, false},
		{"request above limit", inst, []Option{WithResources(corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")}})},
			[]string{"WithResources.Requests[memory]: " + string(bad)}, []string{"1Gi", "256Mi"}, false},
		{"fractional bytes", inst, []Option{WithResources(corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse("0.5")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("10485760m")}})},
			[]string{"WithResources.Requests[ephemeral-storage]: " + string(bad), "WithResources.Limits[memory]: " + string(bad)}, []string{"500m", "10485760m", "whole number of bytes"}, false},
		{"bytes beyond milli-units", inst, []Option{WithResources(corev1.ResourceRequirements{
			Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("9300000000000000000")}})},
			[]string{"WithResources.Limits[memory]: " + string(bad)}, []string{"9300P", "at most 9223372036854775 bytes"}, false},
		{"resource the proxy cannot use", inst, []Option{WithResources(corev1.ResourceRequirements{
			Requests: corev1.ResourceList{"hugepages-2Mi": resource.MustParse("2Mi")},
			Limits:   corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("1")}})},
			[]string{"WithResources.Requests[hugepages-2Mi]: " + string(field.ErrorTypeNotSupported), "WithResources.Limits[nvidia.com/gpu]: " + string(field.ErrorTypeNotSupported)},
			[]string{`"cpu", "ephemeral-storage", "memory"`}, false},
		{"resource claims", inst, []Option{WithResources(corev1.ResourceRequirements{Claims: []corev1.ResourceClaim{{Name: "gpu"}}})},
			[]string{"WithResources.Claims[0]: " + string(field.ErrorTypeForbidden)}, []string{`"gpu"`}, false},
		{"host name as address", inst, []Option{WithListenAddress("localhost")}, []string{"WithListenAddress: " + string(bad)}, []string{"localhost"}, false},
		{"address with unix socket", inst, []Option{WithListenAddress("0.0.0.0"), WithUnixSocket("/cloudsql")}, []string{"WithListenAddress: " + string(bad)}, nil, false},
		{"private ip and psc", inst, []Option{WithPrivateIP(), WithPSC()}, []string{"WithPSC: " + string(bad)}, nil, false},
		{"relative socket dir", inst, []Option{WithUnixSocket("cloudsql")}, []string{"WithUnixSocket: " + string(bad)}, nil, false},
		{"unclean socket dir", inst, []Option{WithUnixSocket("/cloudsql/../etc")}, []string{"WithUnixSocket: " + string(bad)}, nil, false},
		{"socket path too long", inst, []Option{WithUnixSocket("/" + strings.Repeat("d", 80))}, []string{"WithUnixSocket: " + string(bad)}, []string{"limited to 107"}, false},
		{"socket dir at the key's", inst, []Option{WithUnixSocket("/var/run/secrets/cloudsql"), WithCredentialsSecret("sa-key")},
			[]string{"WithUnixSocket: " + string(bad)}, []string{"/var/run/secrets/cloudsql", "WithCredentialsSecret"}, false},
		{"socket dir inside the key's", inst, []Option{WithUnixSocket("/var/run/secrets/cloudsql/s"), WithCredentialsSecret("sa-key")},
			[]string{"WithUnixSocket: " + string(bad)}, []string{"/var/run/secrets/cloudsql/s"}, false},
		{"socket dir at the token's", inst, []Option{WithUnixSocket("/var/run/secrets/kubernetes.io/serviceaccount")},
			[]string{"WithUnixSocket: " + string(bad)}, []string{"service account token"}, false},
		{"socket dir inside the token's", inst, []Option{WithUnixSocket("/var/run/secrets/kubernetes.io/serviceaccount/sql")},
			[]string{"WithUnixSocket: " + string(bad)}, []string{"service account token"}, false},
		{"bad secret name", inst, []Option{WithCredentialsSecret("Bad_Secret")}, []string{"WithCredentialsSecret: " + string(bad)}, nil, false},
		{"key without secret", inst, []Option{WithCredentialsSecretKey("key.json")}, []string{"WithCredentialsSecretKey: " + string(bad)}, nil, false},
		{"bad secret key", inst, []Option{WithCredentialsSecret("s"), WithCredentialsSecretKey("a/b")}, []string{"WithCredentialsSecretKey: " + string(bad)}, nil, false},
		{"empty impersonation", inst, []Option{WithImpersonation()}, []string{"WithImpersonation: " + string(field.ErrorTypeRequired)}, nil, false},
		{"bad impersonation", inst, []Option{WithImpersonation("ok@p.iam.gserviceaccount.com", "a,b@x.com")}, []string{"WithImpersonation[1]: " + string(bad)}, []string{"a,b@x.com"}, false},
		{"negative sigterm delays", inst, []Option{WithMinSigtermDelay(-time.Second), WithMaxSigtermDelay(-time.Second)},
			[]string{"WithMinSigtermDelay: " + string(bad), "WithMaxSigtermDelay: " + string(bad)}, nil, false},
		{"quiet and debug", inst, []Option{WithQuiet(), WithDebugLogs()}, []string{"WithQuiet: " + string(bad)}, nil, false},
		{"prometheus namespace", inst, []Option{WithPrometheus("my-ns")}, []string{"WithPrometheus: " + string(bad)}, []string{"my-ns"}, false},
		{"telemetry without project", inst, []Option{WithTelemetry(Telemetry{SampleRate: 5})}, []string{"WithTelemetry.Project: " + string(field.ErrorTypeRequired)}, nil, false},
		{"telemetry values", inst, []Option{WithTelemetry(Telemetry{Project: "P", Prefix: "a b", SampleRate: -1})},
			[]string{"WithTelemetry.Project: " + string(bad), "WithTelemetry.Prefix: " + string(bad), "WithTelemetry.SampleRate: " + string(bad)}, nil, false},
		{"endpoint and universe", inst, []Option{WithSQLAdminAPIEndpoint("https://x.example.com"), WithUniverseDomain("example.goog")}, []string{"WithSQLAdminAPIEndpoint: " + string(bad)}, nil, false},
		{"bad endpoint", inst, []Option{WithSQLAdminAPIEndpoint("sqladmin.googleapis.com")}, []string{"WithSQLAdminAPIEndpoint: " + string(bad)}, nil, false},
		{"bad universe", inst, []Option{WithUniverseDomain("not a domain")}, []string{"WithUniverseDomain: " + string(bad)}, nil, false},
		{"bad quota project", inst, []Option{WithQuotaProject("x")}, []string{"WithQuotaProject: " + string(bad)}, nil, false},
		{"negative probe", inst, []Option{WithStartupProbe(ProbeTiming{PeriodSeconds: -1}), WithReadinessProbe(ProbeTiming{FailureThreshold: -2})},
			[]string{"WithStartupProbe.PeriodSeconds: " + string(bad), "WithReadinessProbe.FailureThreshold: " + string(bad)}, nil, false},
		{"job timeout fraction", inst, []Option{ForJob(1500 * time.Millisecond)}, []string{"ForJob: " + string(bad)}, []string{"1.5s"}, false},
		{"job timeout negative", inst, []Option{ForJob(-time.Second)}, []string{"ForJob: " + string(bad)}, nil, false},
		{"job timeout on distroless", inst, []Option{ForJob(time.Minute), WithImage(DefaultImage)}, []string{"WithImage: " + string(bad)}, []string{"alpine"}, false},
		{"app env unknown instance", inst, []Option{WithAppEnv("other-project:us-central1:db", AppEnv{Host: "DB_HOST"})}, []string{"WithAppEnv[0].instance: " + string(field.ErrorTypeNotFound)}, nil, false},
		{"app env of an instance that failed to parse", inst + "?port=99999", []Option{WithAppEnv(inst, AppEnv{Host: "DB_HOST"})}, []string{"instance[port]: " + string(bad)}, nil, false},
		{"app env bad name", inst, []Option{WithAppEnv(inst, AppEnv{Host: "1DB"})}, []string{"WithAppEnv[0].Host: " + string(bad)}, []string{"1DB"}, false},
		{"app env duplicate", inst, []Option{WithAppEnv(inst, AppEnv{Host: "DB", Port: "DB"})}, []string{"WithAppEnv[0].Port: " + string(field.ErrorTypeDuplicate)}, nil, false},
		{"app env clashes with quit urls", inst, []Option{ForJob(0), WithAppEnv(inst, AppEnv{Host: QuitURLsEnv})}, []string{"WithAppEnv[0].Host: " + string(field.ErrorTypeDuplicate)}, nil, false},
		{"app env socket over tcp", inst, []Option{WithAppEnv(inst, AppEnv{Socket: "DB_SOCKET"})}, []string{"WithAppEnv[0].Socket: " + string(bad)}, nil, false},
		{"app env port over socket", inst, []Option{WithUnixSocket("/cloudsql"), WithAppEnv(inst, AppEnv{Port: "DB_PORT"})}, []string{"WithAppEnv[0].Port: " + string(bad)}, nil, false},
		{"versioned options", inst, []Option{WithImage("gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.6.0"), WithPSC(), WithLazyRefresh(), WithDebugLogs(), WithMinSigtermDelay(time.Second), WithUniverseDomain("example.goog"), WithLegacySidecar()},
			[]string{"WithLegacySidecar: " + string(bad), "WithLazyRefresh: " + string(bad), "WithDebugLogs: " + string(bad), "WithMinSigtermDelay: " + string(bad), "WithUniverseDomain: " + string(bad)},
			[]string{"2.8.0", "2.11.0", "2.9.0", "2.12.0", "2.10.0", "the image is 2.6.0"}, true},
		{"version from WithProxyVersion", inst, []Option{WithImage("mirror.example.com/csql@sha256:abc"), WithProxyVersion("v2.10.1"), WithLazyRefresh()},
			[]string{"WithLazyRefresh: " + string(bad)}, []string{"2.10.1"}, true},
		{"query psc needs 2.5", inst + "?psc=true", []Option{WithImage("gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.4.0")},
			[]string{"WithImage: " + string(bad), "instance[psc]: " + string(bad)}, []string{"2.4.0"}, true},
		{"all at once", "x", []Option{WithPort(0), WithHealthPort(0), WithName("")}, []string{
			"instance: " + string(bad), "WithPort: " + string(bad), "WithHealthPort: " + string(bad), "WithName: " + string(bad)}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.inst, tt.opts...)
			if err == nil {
				t.Fatalf("New succeeded with %+v, want an error", p.Container().Args)
			}
			if p != nil {
				t.Errorf("New returned a Proxy with its error")
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("errors.Is(%v, ErrInvalidConfig) = false", err)
			}
			if got := errors.Is(err, ErrUnsupportedVersion); got != tt.version {
				t.Errorf("errors.Is(err, ErrUnsupportedVersion) = %v, want %v", got, tt.version)
			}
			if diff := cmp.Diff(sortedCopy(tt.want), sortedCopy(fieldErrs(t, err))); diff != "" {
				t.Errorf("field errors (-want +got):\n%s\nerror: %v", diff, err)
			}
			for _, m := range tt.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error does not mention %q: %v", m, err)
				}
			}
		})
	}
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	slices.Sort(out)
	return out
}

func TestVersionGatingSkipsUnknownImages(t *testing.T) {
	// A mirror whose tag says nothing of the version cannot be checked, so
	// every option is allowed; stating the version turns the check back on.
	opts := []Option{WithImage("registry.example.com/mirror/csql:stable"), WithMinSigtermDelay(time.Second)}
	if _, err := New(inst, opts...); err != nil {
		t.Errorf("unknown version: %v", err)
	}
	if _, err := New(inst, append(opts, WithProxyVersion("2.11.0"))...); !errors.Is(err, ErrUnsupportedVersion) {
		t.Errorf("stated 2.11.0: err = %v, want ErrUnsupportedVersion", err)
	}
	for _, img := range []string{
		"gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.12.0",
		"gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.12.0-alpine",
		"gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.12.0@sha256:0123",
		"localhost:5000/cloud-sql-proxy:v2.12.0",
	} {
		if _, err := New(inst, WithImage(img), WithMinSigtermDelay(time.Second)); err != nil {
			t.Errorf("%s: %v", img, err)
		}
	}
	if _, err := New(inst, WithImage("localhost:5000/cloud-sql-proxy:v2.11.9"), WithMinSigtermDelay(time.Second)); !errors.Is(err, ErrUnsupportedVersion) {
		t.Errorf("registry with port, version 2.11.9: err = %v, want ErrUnsupportedVersion", err)
	}
}

func TestSocketDirBesideReservedDirs(t *testing.T) {
	// Only the directories themselves and what lies inside them are
	// refused; the key's directory is free when no key is mounted.
	for _, opts := range [][]Option{
		{WithUnixSocket("/var/run/secrets/cloudsql")},
		{WithUnixSocket("/var/run/secrets/cloudsql-sockets"), WithCredentialsSecret("sa-key")},
		{WithUnixSocket("/var/run/secrets"), WithCredentialsSecret("sa-key")},
		{WithUnixSocket("/var/run/secrets/kubernetes.io/serviceaccounts")},
	} {
		if _, err := New(inst, opts...); err != nil {
			t.Error(err)
		}
	}
}

func TestResourcesAreCopiedAtNew(t *testing.T) {
	res := corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}}
	p, err := New(inst, WithResources(res))
	if err != nil {
		t.Fatal(err)
	}
	res.Requests[corev1.ResourceCPU] = resource.MustParse("4")
	requests := p.Container().Resources.Requests
	if got := requests.Cpu().String(); got != "250m" {
		t.Errorf("cpu request = %s after the caller changed its map, want 250m", got)
	}
}

func TestOptionsLaterWins(t *testing.T) {
	p, err := New(inst, WithHealthPort(9000), WithHealthPort(9001), WithName("a"), WithName("b"))
	if err != nil {
		t.Fatal(err)
	}
	c := p.Container()
	if c.Name != "b" || c.Ports[0].ContainerPort != 9001 {
		t.Errorf("name %q health port %d, want b and 9001", c.Name, c.Ports[0].ContainerPort)
	}
}

func TestImpersonationCopiesItsArgument(t *testing.T) {
	chain := []string{"a@p.iam.gserviceaccount.com"}
	opt := WithImpersonation(chain...)
	chain[0] = "changed@p.iam.gserviceaccount.com"
	p, err := New(inst, opt)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Container().Args; !strings.Contains(strings.Join(got, " "), "a@p.iam") {
		t.Errorf("args %q lost the chain given to the option", got)
	}
}

// TestGolden pins one whole generated pod per mode. Run with -update to
// rewrite testdata/golden after an intended change, and review the diff.
func TestGolden(t *testing.T) {
	app := func(restart corev1.RestartPolicy) corev1.PodSpec {
		return corev1.PodSpec{
			RestartPolicy: restart,
			InitContainers: []corev1.Container{{
				Name: "migrate", Image: "example.com/app:1", Command: []string{"/app", "migrate"},
			}},
			Containers: []corev1.Container{{
				Name: "app", Image: "example.com/app:1",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
			}},
		}
	}
	env := WithAppEnv(inst, AppEnv{Host: "DB_HOST", Port: "DB_PORT"})
	tests := []struct {
		file string
		spec corev1.PodSpec
		opts []Option
	}{
		{"native.yaml", app(corev1.RestartPolicyAlways), []Option{env}},
		{"legacy.yaml", app(corev1.RestartPolicyAlways), []Option{env, WithLegacySidecar()}},
		{"job.yaml", app(corev1.RestartPolicyNever), []Option{env, ForJob(0)}},
		{"job-timeout.yaml", app(corev1.RestartPolicyOnFailure), []Option{env, ForJob(10 * time.Minute)}},
		{"unix-socket.yaml", app(corev1.RestartPolicyAlways), []Option{WithUnixSocket("/cloudsql"), WithAppEnv(inst, AppEnv{Socket: "DB_SOCKET"}), WithCredentialsSecret("sa-key")}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			p, err := New(inst, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			spec := tt.spec
			if err := p.Attach(&spec); err != nil {
				t.Fatal(err)
			}
			got, err := yaml.Marshal(spec)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "golden", tt.file)
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGolden -update)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", path, diff)
			}
		})
	}
}

// TestStatedVersionMustMatchTheTag: WithProxyVersion is for an image whose
// tag carries no version; one the tag contradicts is refused rather than
// let gate the options by a proxy the image does not run.
func TestStatedVersionMustMatchTheTag(t *testing.T) {
	_, err := New(inst, WithImage("gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.1"), WithProxyVersion("2.28.0"), WithBuiltInMetrics(true))
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), `WithProxyVersion: Invalid value: "2.28.0": cannot be combined with WithImage: the image's tag says 2.14.1`) {
		t.Errorf("contradicting version: %v", err)
	}
	if _, err := New(inst, WithProxyVersion("2.26.3")); err == nil {
		t.Error("a version other than the default image's was accepted for the default image")
	}
	for _, opts := range [][]Option{
		{WithImage("gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.1"), WithProxyVersion("v2.14.1")},
		{WithImage("gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.1-alpine"), WithProxyVersion("2.14.1")},
		{WithImage("registry.example.com/csql:stable"), WithProxyVersion("2.14.1")},
	} {
		if _, err := New(inst, opts...); err != nil {
			t.Errorf("a stated version that agrees with the tag, or one without a version: %v", err)
		}
	}
}

// TestConnectionNameErrorsNameTheRule: a connection name that is refused
// says which rule it breaks, not only what the parts may contain.
func TestConnectionNameErrorsNameTheRule(t *testing.T) {
	for _, tt := range []struct{ name, want string }{
		{"p:r:i", `the project ID "p" has 1 characters; it must have 6 to 30`},
		{"proj:us-central1:i", `the project ID "proj" has 4 characters; it must have 6 to 30`},
		{"hello:world:db", `the project ID "hello" has 5 characters; it must have 6 to 30`},
		{"my-project:world:db", `the region "world" is not a region such as us-central1`},
		{"my-project:us-central1:Orders", `the instance name "Orders" may contain only lower case letters, digits and hyphens`},
		{"my-project:us-central1:1db", `the instance name "1db" must start with a lower case letter`},
		{"my-project-:us-central1:db", `the project ID "my-project-" must not end with a hyphen`},
		{"Example.com:my-project:us-central1:db", `the domain "Example.com" of a domain-scoped project`},
		{"a:b:c:d:e", "it has 5 parts"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.name)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New(%q): %v, want %q in it", tt.name, err, tt.want)
			}
		})
	}
}
