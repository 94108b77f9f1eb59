package e2e

import (
	"fmt"
	mathrand "math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/podspec/cloudsqlproxy"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// The shared table: every mode of the library times every option case. Each layer of the
// tier (real proxy, in-process apiserver code, real apiserver) runs what the library
// generates for every cell, so an option that one layer would reject cannot hide behind
// another.

// casePorts are the ports and endpoints a case is built with. The Kubernetes layers use
// the library's defaults; the real-proxy layer asks the kernel for free ports so that cases
// run in parallel, and sets them through the library's own options (WithPort,
// WithHealthPort, WithAdminPort, ?port=), so what runs is what the library generated.
type casePorts struct {
	DB       int32  // first instance; the library gives the next instance DB+1
	Health   int32  // health checks (and Prometheus)
	Admin    int32  // admin server (quitquitquit, debug)
	Extra    int32  // an explicit ?port= of a later instance
	AdminAPI string // a SQL Admin API endpoint a case may name (fakeAdminAPI in the real-proxy layer)
}

var defaultPorts = casePorts{
	DB:       cloudsqlproxy.DefaultPort,
	Health:   cloudsqlproxy.DefaultHealthPort,
	Admin:    cloudsqlproxy.DefaultAdminPort,
	Extra:    6543,
	AdminAPI: "https://sqladmin.googleapis.com/",
}

// A mode is one way the library attaches the proxy.
type mode struct {
	name string
	// opts gives the mode's options; short asks a Job wrapper for a timeout that expires
	// during a test run (the other runs use a long one, so a slow machine cannot turn a
	// quit-URL or SIGTERM check into a timeout).
	opts func(short bool) []cloudsqlproxy.Option
	// job modes need a pod that completes (restartPolicy Never / OnFailure).
	job bool
	// stops lists how the real-proxy layer ends runs of this mode, each a separate run.
	stops []runOpts
}

var modes = []mode{
	{
		name:  "native",
		opts:  func(bool) []cloudsqlproxy.Option { return nil },
		stops: []runOpts{{stop: stopSIGTERM}},
	},
	{
		name:  "legacy",
		opts:  func(bool) []cloudsqlproxy.Option { return []cloudsqlproxy.Option{cloudsqlproxy.WithLegacySidecar()} },
		stops: []runOpts{{stop: stopSIGTERM}},
	},
	{
		name:  "job",
		opts:  func(bool) []cloudsqlproxy.Option { return []cloudsqlproxy.Option{cloudsqlproxy.ForJob(0)} },
		job:   true,
		stops: []runOpts{{stop: stopQuitURL}, {stop: stopSIGTERM}},
	},
	{
		name: "job-timeout",
		opts: func(short bool) []cloudsqlproxy.Option {
			if short {
				// Long enough for a proxy that sets up telemetry to start on a busy
				// machine before it fires (4 s was not: a run saw 2 s to listen).
				return []cloudsqlproxy.Option{cloudsqlproxy.ForJob(10 * time.Second)}
			}
			return []cloudsqlproxy.Option{cloudsqlproxy.ForJob(10 * time.Minute)}
		},
		job: true,
		// The -alpine image runs the wrapper under busybox ash; the host's /bin/sh is dash.
		stops: []runOpts{
			{stop: stopTimeout},
			{stop: stopTimeout, shell: []string{"busybox", "sh"}},
			{stop: stopQuitURL},
			{stop: stopSIGTERM, shell: []string{"busybox", "sh"}},
		},
	},
}

// An optionCase is one library configuration, applied on top of a mode.
type optionCase struct {
	name string
	// build returns New's instance and the options, using ports p.
	build func(p casePorts) (string, []cloudsqlproxy.Option)
	// appEnv repeats the AppEnv names the case sets, so runs can connect where the
	// applications are told to.
	appEnv []cloudsqlproxy.AppEnv
	// quit: the case turns on --quitquitquit, so the real-proxy layer also stops it
	// through the admin server in every mode.
	quit bool
	// unix: the case listens on unix sockets, where the library refuses a TCP port.
	unix bool
}

const (
	inst1 = "e2e-project:us-central1:orders"
	inst2 = "e2e-project:us-central1:billing"
	inst3 = "other-project:europe-west1:reports"
)

var optionCases = []optionCase{
	{name: "defaults", build: func(p casePorts) (string, []cloudsqlproxy.Option) { return inst1, nil }},
	{
		name: "several-instances",
		build: func(p casePorts) (string, []cloudsqlproxy.Option) {
			return inst1, []cloudsqlproxy.Option{
				cloudsqlproxy.WithInstance(inst2),
				cloudsqlproxy.WithInstance(fmt.Sprintf("%s?port=%d", inst3, p.Extra)),
				cloudsqlproxy.WithAppEnv(inst1, cloudsqlproxy.AppEnv{Host: "ORDERS_HOST", Port: "ORDERS_PORT"}),
				cloudsqlproxy.WithAppEnv(inst2, cloudsqlproxy.AppEnv{Host: "BILLING_HOST", Port: "BILLING_PORT"}),
				cloudsqlproxy.WithAppEnv(inst3, cloudsqlproxy.AppEnv{Host: "REPORTS_HOST", Port: "REPORTS_PORT"}),
			}
		},
		appEnv: []cloudsqlproxy.AppEnv{
			{Host: "ORDERS_HOST", Port: "ORDERS_PORT"},
			{Host: "BILLING_HOST", Port: "BILLING_PORT"},
			{Host: "REPORTS_HOST", Port: "REPORTS_PORT"},
		},
	},
	{
		name: "unix-socket",
		build: func(p casePorts) (string, []cloudsqlproxy.Option) {
			return "e2e-project:us-central1:pg", []cloudsqlproxy.Option{
				cloudsqlproxy.WithUnixSocket("/cloudsql"),
				cloudsqlproxy.WithInstance("e2e-project:us-central1:mysql"),
				cloudsqlproxy.WithAppEnv("e2e-project:us-central1:pg", cloudsqlproxy.AppEnv{Socket: "PG_SOCKET"}),
				cloudsqlproxy.WithAppEnv("e2e-project:us-central1:mysql", cloudsqlproxy.AppEnv{Socket: "MYSQL_SOCKET"}),
			}
		},
		appEnv: []cloudsqlproxy.AppEnv{{Socket: "PG_SOCKET"}, {Socket: "MYSQL_SOCKET"}},
		unix:   true,
	},
	{name: "private-ip", build: func(casePorts) (string, []cloudsqlproxy.Option) {
		return inst1, []cloudsqlproxy.Option{cloudsqlproxy.WithPrivateIP()}
	}},
	{name: "auto-ip", build: func(casePorts) (string, []cloudsqlproxy.Option) {
		return inst1, []cloudsqlproxy.Option{cloudsqlproxy.WithAutoIP()}
	}},
	{name: "psc", build: func(casePorts) (string, []cloudsqlproxy.Option) {
		return inst1, []cloudsqlproxy.Option{cloudsqlproxy.WithPSC()}
	}},
	{name: "per-instance-settings", build: func(p casePorts) (string, []cloudsqlproxy.Option) {
		return inst1 + "?private-ip=true", []cloudsqlproxy.Option{
			cloudsqlproxy.WithInstance(inst2 + "?psc=true&auto-iam-authn=true"),
			cloudsqlproxy.WithInstance(fmt.Sprintf("%s?port=%d&private-ip=false", inst3, p.Extra)),
		}
	}},
	{name: "auto-iam-authn", build: func(casePorts) (string, []cloudsqlproxy.Option) {
		return inst1, []cloudsqlproxy.Option{cloudsqlproxy.WithAutoIAMAuthn()}
	}},
	{name: "credentials-secret", build: func(casePorts) (string, []cloudsqlproxy.Option) {
		return inst1, []cloudsqlproxy.Option{cloudsqlproxy.WithCredentialsSecret("cloudsql-sa")}
	}},
	{name: "credentials-secret-key-impersonation", build: func(casePorts) (string, []cloudsqlproxy.Option) {
		return inst1, []cloudsqlproxy.Option{
			cloudsqlproxy.WithCredentialsSecret("cloudsql-sa"),
			cloudsqlproxy.WithCredentialsSecretKey("key.json"),
			cloudsqlproxy.WithImpersonation("db@e2e-project.iam.gserviceaccount.com"),
		}
	}},
	{name: "impersonation-chain", build: func(casePorts) (string, []cloudsqlproxy.Option) {
		return inst1, []cloudsqlproxy.Option{cloudsqlproxy.WithImpersonation(
			"db@e2e-project.iam.gserviceaccount.com", "hop@e2e-project.iam.gserviceaccount.com")}
	}},
	{name: "connection-tuning", build: func(casePorts) (string, []cloudsqlproxy.Option) {
		return inst1, []cloudsqlproxy.Option{
			cloudsqlproxy.WithLazyRefresh(),
			cloudsqlproxy.WithMaxConnections(10),
			cloudsqlproxy.WithMinSigtermDelay(time.Second),
			cloudsqlproxy.WithMaxSigtermDelay(3 * time.Second),
		}
	}},
	{name: "quiet", build: func(casePorts) (string, []cloudsqlproxy.Option) {
		return inst1, []cloudsqlproxy.Option{cloudsqlproxy.WithQuiet()}
	}},
	{name: "debug-logs", build: func(casePorts) (string, []cloudsqlproxy.Option) {
		return inst1, []cloudsqlproxy.Option{cloudsqlproxy.WithDebugLogs()}
	}},
	{name: "prometheus", build: func(casePorts) (string, []cloudsqlproxy.Option) {
		return inst1, []cloudsqlproxy.Option{cloudsqlproxy.WithPrometheus("csql")}
	}},
	{name: "telemetry-metrics", build: func(casePorts) (string, []cloudsqlproxy.Option) {
		return inst1, []cloudsqlproxy.Option{cloudsqlproxy.WithTelemetry(cloudsqlproxy.Telemetry{
			Project: "e2e-project", Prefix: "e2e", DisableTraces: true})}
	}},
	// Every request traced: each stop then has traces to upload on exit, which (Cloud Trace
	// being unreachable here) takes the exporter's full timeout; see exitBudget. Rarer
	// sampling made that a 1-in-many stall of the "everything" case instead.
	{name: "telemetry-traces", build: func(casePorts) (string, []cloudsqlproxy.Option) {
		return inst1, []cloudsqlproxy.Option{cloudsqlproxy.WithTelemetry(cloudsqlproxy.Telemetry{
			Project: "e2e-project", SampleRate: 1, DisableMetrics: true})}
	}},
	{
		name: "admin-quitquitquit",
		build: func(casePorts) (string, []cloudsqlproxy.Option) {
			return inst1, []cloudsqlproxy.Option{cloudsqlproxy.WithQuitQuitQuit()}
		},
		quit: true,
	},
	{name: "admin-debug-server", build: func(casePorts) (string, []cloudsqlproxy.Option) {
		return inst1, []cloudsqlproxy.Option{cloudsqlproxy.WithDebugServer()}
	}},
	{name: "sqladmin-endpoint-quota-project", build: func(p casePorts) (string, []cloudsqlproxy.Option) {
		return inst1, []cloudsqlproxy.Option{
			cloudsqlproxy.WithSQLAdminAPIEndpoint(p.AdminAPI),
			cloudsqlproxy.WithQuotaProject("billing-project"),
		}
	}},
	{name: "universe-domain", build: func(casePorts) (string, []cloudsqlproxy.Option) {
		return inst1, []cloudsqlproxy.Option{cloudsqlproxy.WithUniverseDomain("example.com")}
	}},
	{name: "builtin-metrics-labels", build: func(casePorts) (string, []cloudsqlproxy.Option) {
		return inst1, []cloudsqlproxy.Option{
			cloudsqlproxy.WithBuiltInMetrics(true),
			cloudsqlproxy.WithComputePlatform("gke"),
			cloudsqlproxy.WithApplicationName("checkout-api"),
		}
	}},
	{name: "builtin-metrics-off", build: func(casePorts) (string, []cloudsqlproxy.Option) {
		return inst1, []cloudsqlproxy.Option{cloudsqlproxy.WithBuiltInMetrics(false)}
	}},
	{name: "probes", build: func(casePorts) (string, []cloudsqlproxy.Option) {
		return inst1, []cloudsqlproxy.Option{
			cloudsqlproxy.WithStartupProbe(cloudsqlproxy.ProbeTiming{PeriodSeconds: 2, TimeoutSeconds: 3, FailureThreshold: 30}),
			cloudsqlproxy.WithLivenessProbe(cloudsqlproxy.ProbeTiming{InitialDelaySeconds: 1, PeriodSeconds: 20, TimeoutSeconds: 15, FailureThreshold: 5}),
			cloudsqlproxy.WithReadinessProbe(cloudsqlproxy.ProbeTiming{PeriodSeconds: 5}),
		}
	}},
	{name: "listen-address", build: func(casePorts) (string, []cloudsqlproxy.Option) {
		return inst1, []cloudsqlproxy.Option{
			cloudsqlproxy.WithListenAddress("127.0.0.3"),
			cloudsqlproxy.WithAppEnv(inst1, cloudsqlproxy.AppEnv{Host: "DB_HOST", Port: "DB_PORT"}),
		}
	}, appEnv: []cloudsqlproxy.AppEnv{{Host: "DB_HOST", Port: "DB_PORT"}}},
	{name: "container-settings", build: func(casePorts) (string, []cloudsqlproxy.Option) {
		return inst1, []cloudsqlproxy.Option{
			cloudsqlproxy.WithName("db-proxy"),
			cloudsqlproxy.WithImage("eu.gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.25.3-alpine"),
			cloudsqlproxy.WithImagePullPolicy(corev1.PullIfNotPresent),
			cloudsqlproxy.WithResources(corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi"), corev1.ResourceEphemeralStorage: resource.MustParse("1Gi")},
			}),
		}
	}},
	{name: "mirrored-image", build: func(casePorts) (string, []cloudsqlproxy.Option) {
		return inst1, []cloudsqlproxy.Option{
			cloudsqlproxy.WithImage("registry.example.com/mirror/cloud-sql-proxy@sha256:" + fmt.Sprintf("%064d", 0)),
			cloudsqlproxy.WithProxyVersion("2.25.3"),
		}
	}},
	{
		name: "everything",
		build: func(p casePorts) (string, []cloudsqlproxy.Option) {
			return inst1 + "?auto-iam-authn=true", []cloudsqlproxy.Option{
				cloudsqlproxy.WithInstance(inst2 + "?psc=true"),
				cloudsqlproxy.WithInstance(fmt.Sprintf("%s?port=%d&private-ip=true", inst3, p.Extra)),
				cloudsqlproxy.WithCredentialsSecret("cloudsql-sa"),
				cloudsqlproxy.WithImpersonation("db@e2e-project.iam.gserviceaccount.com"),
				cloudsqlproxy.WithLazyRefresh(),
				cloudsqlproxy.WithMaxConnections(100),
				cloudsqlproxy.WithMinSigtermDelay(time.Second),
				cloudsqlproxy.WithMaxSigtermDelay(2 * time.Second),
				cloudsqlproxy.WithDebugLogs(),
				cloudsqlproxy.WithPrometheus("everything"),
				cloudsqlproxy.WithTelemetry(cloudsqlproxy.Telemetry{Project: "e2e-project", Prefix: "e2e", SampleRate: 1000}),
				cloudsqlproxy.WithQuitQuitQuit(),
				cloudsqlproxy.WithDebugServer(),
				cloudsqlproxy.WithSQLAdminAPIEndpoint(p.AdminAPI),
				cloudsqlproxy.WithQuotaProject("billing-project"),
				cloudsqlproxy.WithReadinessProbe(cloudsqlproxy.ProbeTiming{}),
				cloudsqlproxy.WithAppEnv(inst1, cloudsqlproxy.AppEnv{Host: "ORDERS_HOST", Port: "ORDERS_PORT"}),
				cloudsqlproxy.WithAppEnv(inst3, cloudsqlproxy.AppEnv{Host: "REPORTS_HOST", Port: "REPORTS_PORT"}),
			}
		},
		appEnv: []cloudsqlproxy.AppEnv{{Host: "ORDERS_HOST", Port: "ORDERS_PORT"}, {Host: "REPORTS_HOST", Port: "REPORTS_PORT"}},
		quit:   true,
	},
}

// newProxy builds the proxy of one cell. withPorts sets p's ports through the library's
// options; without it the library's defaults stand.
func newProxy(m mode, c optionCase, p casePorts, withPorts, short bool) (*cloudsqlproxy.Proxy, error) {
	instance, opts := c.build(p)
	var all []cloudsqlproxy.Option
	if withPorts {
		if !c.unix {
			all = append(all, cloudsqlproxy.WithPort(p.DB))
		}
		all = append(all, cloudsqlproxy.WithHealthPort(p.Health), cloudsqlproxy.WithAdminPort(p.Admin))
	}
	all = append(all, opts...)
	all = append(all, m.opts(short)...)
	return cloudsqlproxy.New(instance, all...)
}

// restricted is a container security context that meets Pod Security "restricted".
func restricted() *corev1.SecurityContext {
	no := false
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: &no,
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
}

// appPodSpec is the application the proxy is attached to: a migration init container
// (which a native sidecar placed first also serves) and the application, both compliant
// with Pod Security "restricted" on their own.
func appPodSpec(restartPolicy corev1.RestartPolicy) corev1.PodSpec {
	yes := true
	return corev1.PodSpec{
		RestartPolicy: restartPolicy,
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   &yes,
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		InitContainers: []corev1.Container{{
			Name:            "migrate",
			Image:           "registry.example.com/shop/orders:1.4.2",
			Command:         []string{"/orders", "migrate"},
			SecurityContext: restricted(),
		}},
		Containers: []corev1.Container{{
			Name:            "app",
			Image:           "registry.example.com/shop/orders:1.4.2",
			Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
			SecurityContext: restricted(),
		}},
	}
}

// kindsFor lists the workloads a mode is meant for: a Job-mode proxy ends, so it goes
// only in pods that complete; a legacy sidecar never ends, so it stays out of Jobs, as the
// library documents.
func kindsFor(m mode) []string {
	var kinds []string
	for _, k := range cloudsqlproxy.WorkloadKinds() {
		// batch/v1's kinds (Job, CronJob) run pods that complete; a bare Pod may too.
		completes := strings.HasPrefix(k.APIVersion, "batch/")
		switch {
		case m.job && (completes || k.Kind == "Pod"):
		case !m.job && m.name == "legacy" && !completes:
		case !m.job && m.name != "legacy":
		default:
			continue
		}
		kinds = append(kinds, k.Kind)
	}
	return kinds
}

// newWorkload returns an application workload of kind (before the proxy is attached).
func newWorkload(kind, name string, job bool) runtime.Object {
	labels := map[string]string{"app.kubernetes.io/name": name}
	meta := metav1.ObjectMeta{Name: name, Labels: labels}
	restart := corev1.RestartPolicyAlways
	if job || kind == "Job" || kind == "CronJob" {
		restart = corev1.RestartPolicyNever
	}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: appPodSpec(restart)}
	sel := &metav1.LabelSelector{MatchLabels: labels}
	var one int32 = 1
	switch kind {
	case "Pod":
		return &corev1.Pod{TypeMeta: tm("v1", kind), ObjectMeta: meta, Spec: tmpl.Spec}
	case "PodTemplate":
		return &corev1.PodTemplate{TypeMeta: tm("v1", kind), ObjectMeta: meta, Template: tmpl}
	case "ReplicationController":
		return &corev1.ReplicationController{TypeMeta: tm("v1", kind), ObjectMeta: meta,
			Spec: corev1.ReplicationControllerSpec{Replicas: &one, Selector: labels, Template: &tmpl}}
	case "Deployment":
		return &appsv1.Deployment{TypeMeta: tm("apps/v1", kind), ObjectMeta: meta,
			Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: sel, Template: tmpl}}
	case "StatefulSet":
		return &appsv1.StatefulSet{TypeMeta: tm("apps/v1", kind), ObjectMeta: meta,
			Spec: appsv1.StatefulSetSpec{Replicas: &one, Selector: sel, Template: tmpl, ServiceName: name}}
	case "DaemonSet":
		return &appsv1.DaemonSet{TypeMeta: tm("apps/v1", kind), ObjectMeta: meta,
			Spec: appsv1.DaemonSetSpec{Selector: sel, Template: tmpl}}
	case "ReplicaSet":
		return &appsv1.ReplicaSet{TypeMeta: tm("apps/v1", kind), ObjectMeta: meta,
			Spec: appsv1.ReplicaSetSpec{Replicas: &one, Selector: sel, Template: tmpl}}
	case "Job":
		return &batchv1.Job{TypeMeta: tm("batch/v1", kind), ObjectMeta: meta,
			Spec: batchv1.JobSpec{Template: tmpl}}
	case "CronJob":
		return &batchv1.CronJob{TypeMeta: tm("batch/v1", kind), ObjectMeta: meta,
			Spec: batchv1.CronJobSpec{Schedule: "*/5 * * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl}}}}
	}
	panic("unknown kind " + kind)
}

func tm(apiVersion, kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: apiVersion, Kind: kind}
}

// workload is one generated object of the table.
type workload struct {
	name string // mode/case/kind
	obj  runtime.Object
	// proxyName is the proxy container's name in the object.
	proxyName string
}

// generatedWorkloads builds every cell of the table for the Kubernetes layers: each mode,
// each option case, each workload the mode is meant for, with the proxy attached by the
// library. Any error from the library fails the test: every cell is a configuration the
// library documents as valid.
func generatedWorkloads(t *testing.T) []workload {
	t.Helper()
	var out []workload
	for _, m := range modes {
		for _, c := range optionCases {
			p, err := newProxy(m, c, defaultPorts, false, false)
			if err != nil {
				t.Errorf("%s/%s: New: %v", m.name, c.name, err)
				continue
			}
			for _, kind := range kindsFor(m) {
				name := fmt.Sprintf("%s-%s-%s", m.name, c.name, kind)
				obj := newWorkload(kind, dnsName(name), m.job)
				spec, err := cloudsqlproxy.PodSpecOf(obj)
				if err != nil {
					t.Errorf("%s: PodSpecOf: %v", name, err)
					continue
				}
				if err := p.Attach(spec); err != nil {
					t.Errorf("%s: Attach: %v", name, err)
					continue
				}
				out = append(out, workload{name: m.name + "/" + c.name + "/" + kind, obj: obj, proxyName: p.Name()})
			}
		}
	}
	return out
}

// dnsName shortens a cell name to a valid object name (DNS label, at most 52 characters
// for a CronJob, whose Jobs get an 11-character suffix).
func dnsName(s string) string {
	var b []byte
	for _, c := range []byte(strings.ToLower(s)) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			c = '-'
		}
		if c == '-' && (len(b) == 0 || b[len(b)-1] == '-') {
			continue
		}
		b = append(b, c)
	}
	if len(b) > 52 {
		b = append(b[:43], []byte(fmt.Sprintf("-%08x", fnv32(s)))...)
	}
	return strings.Trim(string(b), "-")
}

func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// podSpecOf is the pod spec inside a workload, for our own checks.
func podSpecOf(t *testing.T, obj runtime.Object) *corev1.PodSpec {
	t.Helper()
	spec, err := cloudsqlproxy.PodSpecOf(obj)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// freePort hands out ports that are free (the kernel lets us bind them) and never the same
// one twice in this process, so parallel runs do not collide; consecutive ports come as a
// block (the library numbers later instances DB+1, DB+2, ...). They are taken below the
// kernel's ephemeral range: a port picked from that range (as "listen on :0" does) can be
// taken, before the proxy binds it, by one of the many outgoing connections the runs make.
var (
	portsMu   sync.Mutex
	portsUsed = map[int]bool{}
	portsNext int
)

func freePort(t *testing.T, consecutive int) int32 {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	low, high := 20000, ephemeralLow()
	if portsNext == 0 {
		// A random start keeps two test binaries on one machine mostly apart.
		portsNext = low + mathrand.IntN(high-low)
	}
	for attempt := 0; attempt < high-low; attempt++ {
		base := portsNext
		portsNext += consecutive
		if portsNext+consecutive >= high {
			portsNext = low
		}
		ok := true
		for i := 0; ok && i < consecutive; i++ {
			if portsUsed[base+i] {
				ok = false
				break
			}
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+i))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			for i := 0; i < consecutive; i++ {
				portsUsed[base+i] = true
			}
			return int32(base)
		}
	}
	t.Fatal("no free ports")
	return 0
}

// ephemeralLow is the start of the kernel's ephemeral port range (Linux default 32768).
func ephemeralLow() int {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(data)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 21000 {
				return n
			}
		}
	}
	return 32768
}

// freeCasePorts allocates the ports of one real-proxy run.
func freeCasePorts(t *testing.T, api *fakeAdminAPI) casePorts {
	return casePorts{
		DB:       freePort(t, 3),
		Health:   freePort(t, 1),
		Admin:    freePort(t, 1),
		Extra:    freePort(t, 1),
		AdminAPI: api.URL,
	}
}

func metaNamed(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Labels: map[string]string{"app.kubernetes.io/name": name}}
}

// podNamed is a Pod of spec, for the tests that check pod specs built by hand.
func podNamed(name string, spec corev1.PodSpec) *corev1.Pod {
	return &corev1.Pod{TypeMeta: tm("v1", "Pod"), ObjectMeta: metaNamed(name), Spec: spec}
}
