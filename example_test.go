package cloudsqlproxy_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/podspec/cloudsqlproxy"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// printArgs shows the proxy's command line, one flag a line.
func printArgs(p *cloudsqlproxy.Proxy) {
	c := p.Container()
	fmt.Println(strings.Join(append(c.Command, c.Args...), "\n"))
}

func containerNames(cs []corev1.Container) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name)
	}
	return out
}

func deployment() *appsv1.Deployment {
	return &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "app", Image: "example.com/app:1"}},
	}}}}
}

// The common case: a Deployment whose app reaches its database on
// 127.0.0.1:5432 through a native sidecar.
func Example() {
	d := deployment()
	p, err := cloudsqlproxy.New("my-project:us-central1:db")
	if err != nil {
		panic(err)
	}
	if err := p.Attach(&d.Spec.Template.Spec); err != nil {
		panic(err)
	}
	proxy := d.Spec.Template.Spec.InitContainers[0]
	fmt.Println("init containers:", containerNames(d.Spec.Template.Spec.InitContainers))
	fmt.Println("containers:", containerNames(d.Spec.Template.Spec.Containers))
	fmt.Println("restartPolicy:", *proxy.RestartPolicy)
	fmt.Println("startup probe:", proxy.StartupProbe.HTTPGet.Path, "on port", proxy.StartupProbe.HTTPGet.Port.String())
	fmt.Println("args:", proxy.Args)
	// Output:
	// init containers: [cloudsql-proxy]
	// containers: [app]
	// restartPolicy: Always
	// startup probe: /startup on port csql-health
	// args: [--structured-logs --health-check --http-address=0.0.0.0 --http-port=9801 --exit-zero-on-sigterm --address=127.0.0.1 my-project:us-central1:db?port=5432]
}

// A native sidecar comes first among the init containers, so a migration
// that runs as an init container already has the database.
func ExampleProxy_Attach_migration() {
	spec := corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "migrate", Image: "example.com/app:1", Command: []string{"/app", "migrate"}}},
		Containers:     []corev1.Container{{Name: "app", Image: "example.com/app:1"}},
	}
	p, err := cloudsqlproxy.New("my-project:us-central1:db",
		cloudsqlproxy.WithAppEnv("my-project:us-central1:db", cloudsqlproxy.AppEnv{Host: "DB_HOST", Port: "DB_PORT"}))
	if err != nil {
		panic(err)
	}
	if err := p.Attach(&spec); err != nil {
		panic(err)
	}
	fmt.Println(containerNames(spec.InitContainers))
	for _, c := range append(spec.InitContainers[1:], spec.Containers...) {
		fmt.Println(c.Name, c.Env)
	}
	// Output:
	// [cloudsql-proxy migrate]
	// migrate [{DB_HOST 127.0.0.1 nil} {DB_PORT 5432 nil}]
	// app [{DB_HOST 127.0.0.1 nil} {DB_PORT 5432 nil}]
}

// Attach refuses a pod that clashes with the proxy and leaves it unchanged;
// the error lists every clash.
func ExampleProxy_Attach_conflict() {
	spec := corev1.PodSpec{Containers: []corev1.Container{{
		Name: "app", Image: "example.com/app:1",
		Ports: []corev1.ContainerPort{{ContainerPort: 5432}, {ContainerPort: 9801}},
	}}}
	p, _ := cloudsqlproxy.New("my-project:us-central1:db")
	err := p.Attach(&spec)
	fmt.Println(errors.Is(err, cloudsqlproxy.ErrConflict))
	var agg utilerrors.Aggregate
	if errors.As(err, &agg) {
		for _, e := range agg.Errors() {
			fmt.Println(e)
		}
	}
	fmt.Println(len(spec.InitContainers))
	// Output:
	// true
	// containers[0].ports[0].containerPort: Invalid value: 5432: container "app" declares port 5432, which the proxy "cloudsql-proxy" uses for its listener of my-project:us-central1:db
	// containers[0].ports[1].containerPort: Invalid value: 9801: container "app" declares port 9801, which the proxy "cloudsql-proxy" uses for its health check
	// 0
}

// Detach removes exactly what Attach added.
func ExampleProxy_Detach() {
	d := deployment()
	p, _ := cloudsqlproxy.New("my-project:us-central1:db", cloudsqlproxy.WithUnixSocket("/cloudsql"))
	_ = p.Attach(&d.Spec.Template.Spec)
	fmt.Println(len(d.Spec.Template.Spec.InitContainers), len(d.Spec.Template.Spec.Volumes), len(d.Spec.Template.Spec.Containers[0].VolumeMounts))
	_ = p.Detach(&d.Spec.Template.Spec)
	fmt.Println(len(d.Spec.Template.Spec.InitContainers), len(d.Spec.Template.Spec.Volumes), len(d.Spec.Template.Spec.Containers[0].VolumeMounts))
	// Output:
	// 1 1 1
	// 0 0 0
}

// Container gives the container alone, for callers that place it
// themselves; each call returns a fresh copy.
func ExampleProxy_Container() {
	p, _ := cloudsqlproxy.New("my-project:us-central1:db")
	c := p.Container()
	c.Name = "changed"
	fmt.Println(p.Container().Name, p.Name())
	sc := c.SecurityContext
	fmt.Println(*sc.RunAsNonRoot, *sc.RunAsUser, *sc.ReadOnlyRootFilesystem, *sc.AllowPrivilegeEscalation, sc.Capabilities.Drop, sc.SeccompProfile.Type)
	fmt.Println(c.Resources.Requests.Cpu(), c.Resources.Requests.Memory(), c.Resources.Limits == nil)
	// Output:
	// cloudsql-proxy cloudsql-proxy
	// true 65532 true false [ALL] RuntimeDefault
	// 100m 128Mi true
}

// PodSpecOf reaches into any workload with a pod template.
func ExamplePodSpecOf() {
	cj := &batchv1.CronJob{Spec: batchv1.CronJobSpec{JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
		Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyOnFailure,
			Containers:    []corev1.Container{{Name: "report", Image: "example.com/report:1"}},
		}},
	}}}}
	spec, err := cloudsqlproxy.PodSpecOf(cj)
	if err != nil {
		panic(err)
	}
	p, _ := cloudsqlproxy.New("my-project:us-central1:db")
	_ = p.Attach(spec)
	fmt.Println(containerNames(cj.Spec.JobTemplate.Spec.Template.Spec.InitContainers))

	_, err = cloudsqlproxy.PodSpecOf(&corev1.Service{})
	fmt.Println(errors.Is(err, cloudsqlproxy.ErrUnsupportedKind))
	// Output:
	// [cloudsql-proxy]
	// true
}

// New checks every option at once; the error names each option and value.
func ExampleNew_errors() {
	_, err := cloudsqlproxy.New("my-project:us-central1:db?prot=5433",
		cloudsqlproxy.WithHealthPort(70000),
		cloudsqlproxy.WithImage("gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.11.0"),
		cloudsqlproxy.WithMinSigtermDelay(10*time.Second))
	fmt.Println(errors.Is(err, cloudsqlproxy.ErrInvalidConfig), errors.Is(err, cloudsqlproxy.ErrUnsupportedVersion))
	var agg utilerrors.Aggregate
	errors.As(err, &agg)
	for _, e := range agg.Errors() {
		fmt.Println(e)
	}
	// Output:
	// true true
	// instance[prot]: Unsupported value: "prot": supported values: "port", "private-ip", "psc", "auto-iam-authn"
	// WithHealthPort: Invalid value: 70000: must be between 1 and 65535
	// WithMinSigtermDelay: Invalid value: "10s": --min-sigterm-delay needs proxy 2.12.0 or newer; the image is 2.11.0 (WithImage)
}

// Several instances, each on its own port; per-instance settings use the
// proxy's own query syntax.
func ExampleWithInstance() {
	p, _ := cloudsqlproxy.New("my-project:us-central1:orders",
		cloudsqlproxy.WithPort(6000),
		cloudsqlproxy.WithInstance("my-project:us-central1:users"),
		cloudsqlproxy.WithInstance("other-project:europe-west1:audit?port=7000&private-ip=true"))
	printArgs(p)
	// Output:
	// /cloud-sql-proxy
	// --structured-logs
	// --health-check
	// --http-address=0.0.0.0
	// --http-port=9801
	// --exit-zero-on-sigterm
	// --address=127.0.0.1
	// my-project:us-central1:orders?port=6000
	// my-project:us-central1:users?port=6001
	// other-project:europe-west1:audit?port=7000&private-ip=true
}

// Private IP with automatic IAM database authentication: the app logs in
// as the pod's service account, with no password.
func ExampleWithPrivateIP() {
	p, _ := cloudsqlproxy.New("my-project:us-central1:db",
		cloudsqlproxy.WithPrivateIP(),
		cloudsqlproxy.WithAutoIAMAuthn())
	printArgs(p)
	// Output:
	// /cloud-sql-proxy
	// --structured-logs
	// --health-check
	// --http-address=0.0.0.0
	// --http-port=9801
	// --exit-zero-on-sigterm
	// --address=127.0.0.1
	// --private-ip
	// --auto-iam-authn
	// my-project:us-central1:db?port=5432
}

func ExampleWithPSC() {
	p, _ := cloudsqlproxy.New("my-project:us-central1:db", cloudsqlproxy.WithPSC())
	fmt.Println(p.Container().Args[6])
	// Output:
	// --psc
}

// A pod migrated from v1's -ip_address_types=PUBLIC,PRIVATE keeps its
// behaviour; the proxy refuses it together with private IP, and so does New.
func ExampleWithAutoIP() {
	p, _ := cloudsqlproxy.New("my-project:us-central1:db", cloudsqlproxy.WithAutoIP())
	fmt.Println(p.Container().Args[6])
	_, err := cloudsqlproxy.New("my-project:us-central1:db", cloudsqlproxy.WithAutoIP(), cloudsqlproxy.WithPrivateIP())
	fmt.Println(err)
	// Output:
	// --auto-ip
	// cloudsqlproxy: invalid configuration: WithAutoIP: Invalid value: true: cannot be combined with WithPrivateIP
}

// With a Unix socket the app containers mount the socket directory, and
// the environment variable gives them the socket path.
func ExampleWithUnixSocket() {
	spec := corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.com/app:1"}}}
	p, _ := cloudsqlproxy.New("my-project:us-central1:db",
		cloudsqlproxy.WithUnixSocket("/cloudsql"),
		cloudsqlproxy.WithAppEnv("my-project:us-central1:db", cloudsqlproxy.AppEnv{Socket: "DB_SOCKET"}))
	_ = p.Attach(&spec)
	fmt.Println(spec.InitContainers[0].Args[5:])
	fmt.Println(spec.Volumes[0].Name, spec.Containers[0].VolumeMounts[0].MountPath)
	fmt.Println(spec.Containers[0].Env[0].Name, spec.Containers[0].Env[0].Value)
	// Output:
	// [--unix-socket=/cloudsql my-project:us-central1:db]
	// cloudsql-proxy-sockets /cloudsql
	// DB_SOCKET /cloudsql/my-project:us-central1:db
}

// A Job on a cluster without native sidecars: the app calls the quit URL
// when done, and the timeout stops the proxy regardless.
func ExampleForJob() {
	job := &batchv1.Job{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever,
		Containers:    []corev1.Container{{Name: "report", Image: "example.com/report:1"}},
	}}}}
	p, _ := cloudsqlproxy.New("my-project:us-central1:db", cloudsqlproxy.ForJob(30*time.Minute))
	spec, _ := cloudsqlproxy.PodSpecOf(job)
	if err := p.Attach(spec); err != nil {
		panic(err)
	}
	proxy := spec.Containers[0]
	fmt.Println(containerNames(spec.Containers))
	fmt.Println(proxy.Image)
	fmt.Println(proxy.Command[:2], proxy.Command[3:6])
	fmt.Println(proxy.Lifecycle.PostStart.Exec.Command)
	fmt.Println(spec.Containers[1].Env)
	// Output:
	// [cloudsql-proxy report]
	// gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.28.0-alpine
	// [/bin/sh -c] [cloudsql-proxy 1800 /cloud-sql-proxy]
	// [/cloud-sql-proxy wait --http-address=127.0.0.1 --http-port=9801 --max=60s]
	// [{CSQL_PROXY_QUIT_URLS http://localhost:9091/quitquitquit nil}]
}

// Before Kubernetes 1.29 (or with the SidecarContainers gate off) the proxy
// is the first regular container, and its postStart hook holds the app back.
func ExampleWithLegacySidecar() {
	d := deployment()
	p, _ := cloudsqlproxy.New("my-project:us-central1:db", cloudsqlproxy.WithLegacySidecar())
	_ = p.Attach(&d.Spec.Template.Spec)
	proxy := d.Spec.Template.Spec.Containers[0]
	fmt.Println(containerNames(d.Spec.Template.Spec.Containers), proxy.RestartPolicy == nil)
	fmt.Println(proxy.Lifecycle.PostStart.Exec.Command)
	// Output:
	// [cloudsql-proxy app] true
	// [/cloud-sql-proxy wait --http-address=127.0.0.1 --http-port=9801 --max=60s]
}

func ExampleWithHealthPort() {
	p, _ := cloudsqlproxy.New("my-project:us-central1:db", cloudsqlproxy.WithHealthPort(9090))
	c := p.Container()
	fmt.Println(c.Ports[0].Name, c.Ports[0].ContainerPort, c.Args[3])
	// Output:
	// csql-health 9090 --http-port=9090
}

// Serving metrics for Prometheus on the health port, and exporting to
// Cloud Monitoring and Cloud Trace.
func ExampleWithPrometheus() {
	p, _ := cloudsqlproxy.New("my-project:us-central1:db",
		cloudsqlproxy.WithPrometheus("cloudsql"),
		cloudsqlproxy.WithTelemetry(cloudsqlproxy.Telemetry{Project: "my-project", SampleRate: 1000, DisableTraces: true}))
	printArgs(p)
	// Output:
	// /cloud-sql-proxy
	// --structured-logs
	// --health-check
	// --http-address=0.0.0.0
	// --http-port=9801
	// --prometheus
	// --prometheus-namespace=cloudsql
	// --exit-zero-on-sigterm
	// --address=127.0.0.1
	// --telemetry-project=my-project
	// --telemetry-sample-rate=1000
	// --disable-traces
	// my-project:us-central1:db?port=5432
}

// The admin server, on localhost only, for /quitquitquit and pprof.
func ExampleWithQuitQuitQuit() {
	p, _ := cloudsqlproxy.New("my-project:us-central1:db",
		cloudsqlproxy.WithQuitQuitQuit(),
		cloudsqlproxy.WithDebugServer(),
		cloudsqlproxy.WithAdminPort(9191))
	fmt.Println(p.Container().Args[6:9])
	// Output:
	// [--quitquitquit --debug --admin-port=9191]
}

// Graceful shutdown: keep accepting for 5s after SIGTERM, then wait up to
// 30s for open connections.
func ExampleWithMinSigtermDelay() {
	p, _ := cloudsqlproxy.New("my-project:us-central1:db",
		cloudsqlproxy.WithMinSigtermDelay(5*time.Second),
		cloudsqlproxy.WithMaxSigtermDelay(30*time.Second))
	fmt.Println(p.Container().Args[6:8])
	// Output:
	// [--min-sigterm-delay=5s --max-sigterm-delay=30s]
}

// A service account key from a Secret, where Workload Identity is not
// available.
func ExampleWithCredentialsSecret() {
	p, _ := cloudsqlproxy.New("my-project:us-central1:db",
		cloudsqlproxy.WithCredentialsSecret("cloudsql-sa"),
		cloudsqlproxy.WithCredentialsSecretKey("key.json"))
	c := p.Container()
	fmt.Println(c.Args[6])
	fmt.Println(c.VolumeMounts[0].Name, c.VolumeMounts[0].MountPath, c.VolumeMounts[0].ReadOnly)
	fmt.Println(p.Volumes()[0].Secret.SecretName)
	// Output:
	// --credentials-file=/var/run/secrets/cloudsql/key.json
	// cloudsql-proxy-credentials /var/run/secrets/cloudsql true
	// cloudsql-sa
}

// Acting as another service account, billing API quota to another project.
func ExampleWithImpersonation() {
	p, _ := cloudsqlproxy.New("my-project:us-central1:db",
		cloudsqlproxy.WithImpersonation("hop@my-project.iam.gserviceaccount.com", "db-user@my-project.iam.gserviceaccount.com"),
		cloudsqlproxy.WithQuotaProject("billing-project"))
	fmt.Println(strings.Join(p.Container().Args[6:8], "\n"))
	// Output:
	// --impersonate-service-account=hop@my-project.iam.gserviceaccount.com,db-user@my-project.iam.gserviceaccount.com
	// --quota-project=billing-project
}

// For pods whose CPU is throttled between requests, with a cap on
// connections.
func ExampleWithLazyRefresh() {
	p, _ := cloudsqlproxy.New("my-project:us-central1:db",
		cloudsqlproxy.WithLazyRefresh(),
		cloudsqlproxy.WithMaxConnections(100))
	fmt.Println(p.Container().Args[6:8])
	// Output:
	// [--lazy-refresh --max-connections=100]
}

func ExampleWithQuiet() {
	p, _ := cloudsqlproxy.New("my-project:us-central1:db", cloudsqlproxy.WithQuiet())
	fmt.Println(p.Container().Args[:2])
	// Output:
	// [--structured-logs --quiet]
}

func ExampleWithDebugLogs() {
	p, _ := cloudsqlproxy.New("my-project:us-central1:db", cloudsqlproxy.WithDebugLogs())
	fmt.Println(p.Container().Args[:2])
	// Output:
	// [--structured-logs --debug-logs]
}

// A mirror whose tag does not carry the version: state it, so options the
// version lacks are still rejected.
func ExampleWithImage() {
	_, err := cloudsqlproxy.New("my-project:us-central1:db",
		cloudsqlproxy.WithImage("registry.example.com/mirror/cloud-sql-proxy@sha256:0f3c9a"),
		cloudsqlproxy.WithProxyVersion("2.10.0"),
		cloudsqlproxy.WithImagePullPolicy(corev1.PullAlways),
		cloudsqlproxy.WithLazyRefresh())
	fmt.Println(err)
	// Output:
	// cloudsqlproxy: invalid configuration: WithLazyRefresh: Invalid value: true: --lazy-refresh needs proxy 2.11.0 or newer; the image is 2.10.0 (WithProxyVersion)
}

func ExampleWithName() {
	p, _ := cloudsqlproxy.New("my-project:us-central1:db",
		cloudsqlproxy.WithName("db-proxy"),
		cloudsqlproxy.WithUnixSocket("/cloudsql"))
	fmt.Println(p.Name(), p.Volumes()[0].Name)
	// Output:
	// db-proxy db-proxy-sockets
}

func ExampleWithResources() {
	p, _ := cloudsqlproxy.New("my-project:us-central1:db",
		cloudsqlproxy.WithResources(corev1.ResourceRequirements{
			Requests: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("250m"),
				corev1.ResourceMemory: resource.MustParse("256Mi"),
			},
			Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
		}))
	r := p.Container().Resources
	fmt.Println(r.Requests.Cpu(), r.Requests.Memory(), r.Limits.Memory())
	// Output:
	// 250m 256Mi 256Mi
}

// Serving another pod's clients on the pod IP. Read WithListenAddress's
// warning first.
func ExampleWithListenAddress() {
	p, _ := cloudsqlproxy.New("my-project:us-central1:db", cloudsqlproxy.WithListenAddress("0.0.0.0"))
	fmt.Println(p.Container().Args[5])
	// Output:
	// --address=0.0.0.0
}

func ExampleWithSQLAdminAPIEndpoint() {
	p, _ := cloudsqlproxy.New("my-project:us-central1:db",
		cloudsqlproxy.WithSQLAdminAPIEndpoint("https://sqladmin.mtls.googleapis.com"))
	fmt.Println(p.Container().Args[6])
	// Output:
	// --sqladmin-api-endpoint=https://sqladmin.mtls.googleapis.com
}

func ExampleWithUniverseDomain() {
	p, _ := cloudsqlproxy.New("my-project:us-central1:db", cloudsqlproxy.WithUniverseDomain("example.goog"))
	fmt.Println(p.Container().Args[6])
	// Output:
	// --universe-domain=example.goog
}

// Probe timings; a readiness probe only on request, since it gates the
// pod's readiness.
func ExampleWithStartupProbe() {
	p, _ := cloudsqlproxy.New("my-project:us-central1:db",
		cloudsqlproxy.WithStartupProbe(cloudsqlproxy.ProbeTiming{FailureThreshold: 120}),
		cloudsqlproxy.WithLivenessProbe(cloudsqlproxy.ProbeTiming{PeriodSeconds: 30}),
		cloudsqlproxy.WithReadinessProbe(cloudsqlproxy.ProbeTiming{}))
	c := p.Container()
	for _, pr := range []*corev1.Probe{c.StartupProbe, c.LivenessProbe, c.ReadinessProbe} {
		fmt.Println(pr.HTTPGet.Path, pr.PeriodSeconds, pr.TimeoutSeconds, pr.FailureThreshold)
	}
	// Output:
	// /startup 1 5 120
	// /liveness 30 10 3
	// /readiness 10 5 3
}

// Every kind PodSpecOf accepts, with where its manifests keep the pod spec.
func ExampleWorkloadKinds() {
	for _, k := range cloudsqlproxy.WorkloadKinds() {
		fmt.Println(k.APIVersion, k.Kind, strings.Join(k.PodSpecPath, "."))
	}
	// Output:
	// v1 Pod spec
	// apps/v1 Deployment spec.template.spec
	// apps/v1 StatefulSet spec.template.spec
	// apps/v1 DaemonSet spec.template.spec
	// apps/v1 ReplicaSet spec.template.spec
	// v1 ReplicationController spec.template.spec
	// v1 PodTemplate template.spec
	// batch/v1 Job spec.template.spec
	// batch/v1 CronJob spec.jobTemplate.spec.template.spec
}

// A platform's marker in the proxy's API calls.
func ExampleWithUserAgent() {
	p, _ := cloudsqlproxy.New("my-project:us-central1:db", cloudsqlproxy.WithUserAgent("shop-platform/2.1"))
	args := p.Container().Args
	fmt.Println(args[len(args)-2])
	// Output:
	// --user-agent=shop-platform/2.1
}

// Built-in client metrics are the proxy's to export by default (2.27 and
// newer); the option passes an explicit choice on, and turning them off
// needs nothing on an older proxy, which has none.
func ExampleWithBuiltInMetrics() {
	for _, image := range []string{cloudsqlproxy.DefaultImage, "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.26.3"} {
		p, err := cloudsqlproxy.New("my-project:us-central1:db",
			cloudsqlproxy.WithImage(image), cloudsqlproxy.WithBuiltInMetrics(false))
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(slices.Contains(p.Container().Args, "--enable-builtin-metrics=false"))
	}
	// Output:
	// true
	// false
}

// The labels of the built-in metrics: the platform when the proxy cannot
// detect it, and one application name for every replica of a workload.
func ExampleWithApplicationName() {
	p, err := cloudsqlproxy.New("my-project:us-central1:db",
		cloudsqlproxy.WithApplicationName("checkout-api"), cloudsqlproxy.WithComputePlatform("gke"))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, a := range p.Container().Args {
		if strings.HasPrefix(a, "--application-name") || strings.HasPrefix(a, "--compute-platform") {
			fmt.Println(a)
		}
	}
	_, err = cloudsqlproxy.New("my-project:us-central1:db", cloudsqlproxy.WithComputePlatform("kubernetes"))
	fmt.Println(err)
	// Output:
	// --compute-platform=gke
	// --application-name=checkout-api
	// cloudsqlproxy: invalid configuration: WithComputePlatform: Unsupported value: "kubernetes": supported values: "gce", "gke", "cloud_run", "app_engine", "cloud_functions", "ai_studio"
}

// A hand-written v1 sidecar becomes a native one with the same instance,
// port and key file; the application's own settings are untouched.
func ExampleFromContainer() {
	old := corev1.Container{
		Name:         "cloudsql-proxy",
		Image:        "gcr.io/cloudsql-docker/gce-proxy:1.33.2",
		Command:      []string{"/cloud_sql_proxy", "-instances=my-project:us-central1:db=tcp:5432", "-credential_file=/secrets/sa.json"},
		VolumeMounts: []corev1.VolumeMount{{Name: "sa", MountPath: "/secrets", ReadOnly: true}},
	}
	spec := corev1.PodSpec{
		Containers: []corev1.Container{{Name: "app", Image: "example.com/app:1"}, old},
		Volumes:    []corev1.Volume{{Name: "sa", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "db-sa"}}}},
	}
	insts, opts, err := cloudsqlproxy.FromContainer(old, spec.Volumes)
	if err != nil {
		fmt.Println(err)
		return
	}
	p, _ := cloudsqlproxy.New(insts[0], opts...)
	if err := p.Attach(&spec); err != nil {
		fmt.Println(err)
		return
	}
	proxy := spec.InitContainers[0]
	fmt.Println(proxy.Name, proxy.Args[len(proxy.Args)-1])
	fmt.Println(spec.Volumes[0].Name, spec.Volumes[0].Secret.SecretName, len(spec.Containers))
	// Output:
	// cloudsql-proxy my-project:us-central1:db?port=5432
	// cloudsql-proxy-credentials db-sa 1
}

// AttachTo records what it added on the pod template, so that DetachFrom
// takes it out again without the Proxy.
func ExampleProxy_AttachTo() {
	tmpl := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.com/app:1"}}}}
	p, _ := cloudsqlproxy.New("my-project:us-central1:db",
		cloudsqlproxy.WithAppEnv("my-project:us-central1:db", cloudsqlproxy.AppEnv{Host: "DB_HOST"}))
	_ = p.AttachTo(&tmpl.ObjectMeta, &tmpl.Spec)
	fmt.Println(tmpl.Annotations[cloudsqlproxy.StatusAnnotation])
	found, _ := cloudsqlproxy.DetachFrom(&tmpl.ObjectMeta, &tmpl.Spec)
	fmt.Println(found, len(tmpl.Spec.InitContainers), tmpl.Spec.Containers[0].Env, tmpl.Annotations)
	// Output:
	// {"version":1,"container":"cloudsql-proxy","env":[{"container":"app","name":"DB_HOST","value":"127.0.0.1"}]}
	// true 0 [] map[]
}

// The parts Attach adds, for a caller that assembles the pod with other
// types than k8s.io/api's, such as an infrastructure-as-code SDK.
func ExampleProxy_NativeSidecar() {
	p, _ := cloudsqlproxy.New("my-project:us-central1:db")
	legacy, _ := cloudsqlproxy.New("my-project:us-central1:db", cloudsqlproxy.WithLegacySidecar())
	fmt.Println("default:", p.NativeSidecar(), "legacy:", legacy.NativeSidecar())
	// Output:
	// default: true legacy: false
}

func ExampleProxy_AppEnv() {
	p, _ := cloudsqlproxy.New("my-project:us-central1:db", cloudsqlproxy.ForJob(0),
		cloudsqlproxy.WithAppEnv("my-project:us-central1:db", cloudsqlproxy.AppEnv{Host: "DB_HOST", Port: "DB_PORT"}))
	for _, e := range p.AppEnv() {
		fmt.Printf("%s=%s\n", e.Name, e.Value)
	}
	// Output:
	// CSQL_PROXY_QUIT_URLS=http://localhost:9091/quitquitquit
	// DB_HOST=127.0.0.1
	// DB_PORT=5432
}

func ExampleProxy_AppVolumeMounts() {
	p, _ := cloudsqlproxy.New("my-project:us-central1:db", cloudsqlproxy.WithUnixSocket("/cloudsql"))
	for _, m := range p.AppVolumeMounts() {
		fmt.Println(m.Name, m.MountPath)
	}
	fmt.Println(p.Volumes()[0].Name)
	// Output:
	// cloudsql-proxy-sockets /cloudsql
	// cloudsql-proxy-sockets
}

// FromPod is the adoption policy in one call: find the pod's own proxy
// (any name, v1 or v2, either container list), read its settings, lay the
// options given over them, and return the Proxy that Attach puts in its
// place.
func ExampleFromPod() {
	spec := corev1.PodSpec{
		Containers: []corev1.Container{
			{Name: "app", Image: "example.com/app:1"},
			{Name: "cloudsql-proxy", Image: "gcr.io/cloudsql-docker/gce-proxy:1.33.2",
				Command: []string{"/cloud_sql_proxy", "-instances=my-project:us-central1:db=tcp:5432"}},
		},
	}
	p, err := cloudsqlproxy.FromPod(nil, &spec, cloudsqlproxy.WithImage(cloudsqlproxy.DefaultImage))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := p.Attach(&spec); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(containerNames(spec.InitContainers), containerNames(spec.Containers))
	fmt.Println(spec.InitContainers[0].Args[len(spec.InitContainers[0].Args)-1])

	_, err = cloudsqlproxy.FromPod(nil, &corev1.PodSpec{Containers: spec.Containers[:1]})
	fmt.Println(errors.Is(err, cloudsqlproxy.ErrNoProxy))
	// Output:
	// [cloudsql-proxy] [app]
	// my-project:us-central1:db?port=5432
	// true
}

// Problems lists what New refused, one value each: a caller that offers
// the options under other names (here, a command's flags) switches on the
// reason and names the other option its own way.
func ExampleProblems() {
	_, err := cloudsqlproxy.New("my-project:us-central1:db",
		cloudsqlproxy.WithUnixSocket("/cloudsql"), cloudsqlproxy.WithPort(6000),
		cloudsqlproxy.WithImage("gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.10.0"), cloudsqlproxy.WithLazyRefresh())
	flags := map[string]string{"WithPort": "--port", "WithUnixSocket": "--unix-socket", "WithLazyRefresh": "--lazy-refresh", "WithImage": "--image"}
	name := func(p *field.Path) string { return flags[p.String()] }
	for _, p := range cloudsqlproxy.Problems(err) {
		fmt.Printf("%s %s (%s): %s\n", name(p.Field), p.Reason, p.Version, p.Message(name))
	}
	fmt.Println(errors.Is(err, cloudsqlproxy.ErrInvalidConfig), errors.Is(err, cloudsqlproxy.ErrUnsupportedVersion))
	// Output:
	// --port Conflict (): cannot be combined with --unix-socket
	// --lazy-refresh NeedsVersion (2.11.0): --lazy-refresh needs proxy 2.11.0 or newer; the image is 2.10.0 (--image)
	// true true
}

// Message words a problem with the caller's names for the option it
// involves; Error names it as Go code does.
func ExampleProblem_Message() {
	_, err := cloudsqlproxy.New("my-project:us-central1:db", cloudsqlproxy.WithCredentialsSecretKey("key.json"))
	p := cloudsqlproxy.Problems(err)[0]
	fmt.Println(p.Error())
	fmt.Println(p.Message(func(*field.Path) string { return "--credentials-secret" }))
	// Output:
	// WithCredentialsSecretKey: Invalid value: "key.json": needs WithCredentialsSecret
	// needs --credentials-secret
}

// FieldError gives the problem as a field.Error, for code that formats
// those.
func ExampleProblem_FieldError() {
	_, err := cloudsqlproxy.New("my-project:us-central1:db", cloudsqlproxy.WithHealthPort(9091), cloudsqlproxy.WithQuitQuitQuit())
	p := cloudsqlproxy.Problems(err)[0]
	fmt.Println(p.FieldError(func(o *field.Path) string { return "the health port" }).ErrorBody())
	// Output:
	// Invalid value: 9091: is also the port of the health checks (the health port)
}

// RecordedProxy names the container AttachTo added, before DetachFrom
// takes it out.
func ExampleRecordedProxy() {
	p, err := cloudsqlproxy.New("my-project:us-central1:db", cloudsqlproxy.WithName("db-proxy"))
	if err != nil {
		panic(err)
	}
	tmpl := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app"}}}}
	if err := p.AttachTo(&tmpl.ObjectMeta, &tmpl.Spec); err != nil {
		panic(err)
	}
	name, err := cloudsqlproxy.RecordedProxy(&tmpl.ObjectMeta)
	fmt.Println(name, err)
	// Output:
	// db-proxy <nil>
}

// Adoption says how the proxy that replaces a hand-written one behaves
// differently, so that a migration can tell the pod's owner.
func ExampleProxy_Adoption() {
	spec := corev1.PodSpec{
		Containers: []corev1.Container{
			{Name: "app", Image: "example.com/app:1"},
			{Name: "cloud-sql-proxy", Image: "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.1",
				Args: []string{"--address=0.0.0.0", "--port=5432", "my-project:us-central1:db"},
				Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{
					Exec: &corev1.ExecAction{Command: []string{"/cloud-sql-proxy", "shutdown"}}}}},
		},
	}
	p, err := cloudsqlproxy.FromPod(nil, &spec)
	if err != nil {
		fmt.Println(err)
		return
	}
	a := p.Adoption()
	fmt.Println(a.Container, a.Name)
	for _, n := range a.Notes {
		fmt.Println(n.Reason, n.Field)
	}
	// Output:
	// containers[1] cloud-sql-proxy
	// ListensBeyondPod containers[1].args[0]
	// HookDropped containers[1].lifecycle.preStop
}
