package cloudsqlproxy

import (
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// An Option configures a [Proxy] built by [New].
//
// Options are applied in order after the defaults are filled in; a later
// option of the same kind replaces an earlier one, except [WithInstance] and
// [WithAppEnv], which add. All values are validated together once every
// option has been applied, so [New] reports every problem at once.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// ProbeTiming sets the timing of one of the proxy container's probes. A zero
// field keeps that field's default; see [WithStartupProbe],
// [WithLivenessProbe] and [WithReadinessProbe] for the defaults.
type ProbeTiming struct {
	InitialDelaySeconds int32
	PeriodSeconds       int32
	TimeoutSeconds      int32
	FailureThreshold    int32
}

// Telemetry configures the proxy's export of metrics to Cloud Monitoring and
// traces to Cloud Trace (flags --telemetry-*, --disable-metrics,
// --disable-traces). A zero field is not passed to the proxy.
//
// With traces on, the proxy uploads its pending traces before it exits
// (after SIGTERM, the quit URL or a Job timeout), one batch at a time, and
// the exporter gives each upload up to 12 seconds. If Cloud Trace is slow or
// unreachable (egress rules, VPC Service Controls) the proxy takes that long
// per pending batch to exit: a Job completes later, and a pod's
// terminationGracePeriodSeconds must cover it on top of
// [WithMinSigtermDelay] and [WithMaxSigtermDelay], or the kubelet kills the
// proxy first.
type Telemetry struct {
	// Project is the Google Cloud project that receives the telemetry.
	// Without it nothing is exported.
	Project string
	// Prefix is prepended to metric names.
	Prefix string
	// SampleRate traces one in SampleRate requests (the proxy's default
	// is 10000).
	SampleRate int
	// DisableMetrics and DisableTraces turn off one half of the export.
	DisableMetrics bool
	DisableTraces  bool
}

// AppEnv names environment variables that [Proxy.Attach] sets in the
// application containers so they can find one instance, and that
// [Proxy.Detach] removes. An empty name sets nothing.
type AppEnv struct {
	// Host is set to the listen address (127.0.0.1 by default).
	Host string
	// Port is set to the instance's TCP port.
	Port string
	// Socket is set, with [WithUnixSocket], to the instance's socket path
	// "<dir>/<connection name>": the socket itself for MySQL and SQL
	// Server, the directory holding .s.PGSQL.5432 for PostgreSQL.
	Socket string
}

// WithPort sets the TCP port of the first instance's listener. It defaults
// to 5432; each further instance without its own "?port=" gets the previous
// instance's port plus one. The library always passes an explicit port,
// because without one the proxy asks the SQL Admin API which database engine
// the instance runs and fails to start when that API is unreachable.
func WithPort(port int32) Option {
	return optionFunc(func(c *config) { c.port, c.portSet = port, true })
}

// WithInstance adds another Cloud SQL instance to the same proxy. The
// connection name has the same syntax as the one given to [New]:
// "project:region:instance", optionally followed by the proxy's own
// per-instance query parameters "?port=N", "private-ip=true", "psc=true"
// and "auto-iam-authn=true". Any other parameter is an error, since the proxy
// silently ignores keys it does not know.
//
// Instead of a connection name, an instance can be a DNS name such as
// "prod-db.example.com" (proxy 2.15 or newer), with the same parameters.
// The proxy looks up the name's TXT record, which holds the connection
// name, when it starts and when clients connect, and again every 30
// seconds: when the record comes to name another instance (a private DNS
// zone moved after a failover), it closes the connections to the old one.
// The name must be in lower case, with two or more labels or a trailing
// dot, as the proxy refuses anything else. The instance's Unix socket is
// named after the DNS name, and [WithAppEnv] refers to it by the DNS name.
// A TCP listener starts without the record, but with [WithUnixSocket] the
// proxy needs it at startup (to learn the engine) and exits if the name
// does not resolve.
func WithInstance(connectionName string) Option {
	return optionFunc(func(c *config) { c.instances = append(c.instances, connectionName) })
}

// WithHealthPort sets the port of the proxy's health-check server
// (default 9801, chosen to stay clear of the 9090 that many applications
// use for metrics). The server binds 0.0.0.0 because the kubelet probes the
// pod IP; the container declares the port under the name [HealthPortName],
// and the probes refer to it by that name.
func WithHealthPort(port int32) Option {
	return optionFunc(func(c *config) { c.healthPort = port })
}

// WithAdminPort sets the port of the proxy's admin server (default 9091),
// which runs with [WithQuitQuitQuit], [WithDebugServer] and [ForJob]. The
// proxy always binds it to localhost, so only containers of the same pod can
// reach it.
func WithAdminPort(port int32) Option {
	return optionFunc(func(c *config) { c.adminPort = port })
}

// WithName sets the proxy container's name (default "cloudsql-proxy").
// [Proxy.Attach] recognises an existing proxy container by this name, and the
// names of the proxy's volumes derive from it: "<name>-sockets" with
// [WithUnixSocket] and "<name>-credentials" with [WithCredentialsSecret],
// which must stay 63 bytes at most, so the name may have 55 and 51 bytes
// with them (63 without either).
func WithName(name string) Option {
	return optionFunc(func(c *config) { c.name = name })
}

// WithImage sets the container image (default [DefaultImage]; with a
// [ForJob] timeout, its "-alpine" variant). When the tag is a proxy version
// such as "2.25.3" or "2.25.3-alpine", options that the version does not
// support are rejected. For an image whose tag says nothing of the version
// (a mirror, a digest), that check is skipped unless [WithProxyVersion]
// gives the version.
func WithImage(image string) Option {
	return optionFunc(func(c *config) { c.image = image })
}

// WithProxyVersion states the proxy version of a custom image whose tag does
// not carry it, for example "2.25.3", so that options the version does not
// support are still rejected. A version that the image's own tag
// contradicts (the default image's included) is refused: it would let
// through flags the image's proxy lacks.
func WithProxyVersion(version string) Option {
	return optionFunc(func(c *config) { c.version = version })
}

// WithImagePullPolicy sets the container's image pull policy (default
// IfNotPresent, which is also what the API server fills in for a pinned tag;
// setting it explicitly keeps reconcilers from seeing a diff).
func WithImagePullPolicy(policy corev1.PullPolicy) Option {
	return optionFunc(func(c *config) { c.pullPolicy = policy })
}

// WithResources sets the container's resource requests and limits. The
// default requests 100m CPU and 128Mi memory and sets no limits: the proxy
// mostly copies bytes, and a CPU limit would throttle every database
// connection of the pod. (Upstream's examples request 1 CPU and 2Gi, which
// most pods do not need.) A native sidecar's requests add to the pod's for
// its whole life, so size them to the traffic.
//
// Only cpu, memory and ephemeral-storage can be set, memory and storage in
// whole bytes ("1.5Gi" is, "0.5" is not), and no resource claims: the API
// server has further rules for the rest and the proxy no use for them.
func WithResources(resources corev1.ResourceRequirements) Option {
	return optionFunc(func(c *config) { c.resources = &resources })
}

// WithListenAddress sets the IP address the database listeners bind
// (default 127.0.0.1). It must be an IP address.
//
// Binding 0.0.0.0 or the pod IP is dangerous: every client that can reach
// the pod IP then gets a path to the database that authenticates as the
// pod's identity, bypassing whatever network policy protected Cloud SQL.
// Only do it when another pod is meant to use this proxy, and restrict access
// to the port with a NetworkPolicy.
func WithListenAddress(address string) Option {
	return optionFunc(func(c *config) { c.address = address })
}

// WithPrivateIP connects to every instance over its private IP (--private-ip).
func WithPrivateIP() Option {
	return setFlag("private-ip", "true")
}

// WithPSC connects to every instance over Private Service Connect (--psc,
// proxy 2.5 or newer).
func WithPSC() Option {
	return setFlag("psc", "true")
}

// WithAutoIP connects to each instance over the first IP address the SQL
// Admin API lists for it, public or private (--auto-ip, proxy 2.2 or newer),
// as v1 of the proxy did with -ip_address_types=PUBLIC,PRIVATE. It exists
// for pods migrated from v1; prefer [WithPrivateIP] or the default public
// IP, which say what the pod connects over. It cannot be combined with
// WithPrivateIP.
func WithAutoIP() Option {
	return setFlag("auto-ip", "true")
}

// WithAutoIAMAuthn turns on automatic IAM database authentication for every
// instance (--auto-iam-authn): the proxy logs in as the pod's service
// account, and the application connects without a password.
func WithAutoIAMAuthn() Option {
	return setFlag("auto-iam-authn", "true")
}

// WithUnixSocket makes the proxy serve every instance on a Unix socket under
// dir (an absolute path) instead of TCP (--unix-socket). The directory is an
// emptyDir volume named "<name>-sockets" that [Proxy.Attach] also mounts
// into the application containers at the same path. Ports ([WithPort],
// "?port=") and [WithListenAddress] do not apply and are rejected, and so
// is a directory at or inside the service account token's
// (/var/run/secrets/kubernetes.io/serviceaccount) or, with
// [WithCredentialsSecret], the key's (/var/run/secrets/cloudsql).
func WithUnixSocket(dir string) Option {
	return optionFunc(func(c *config) { c.socketDir = dir })
}

// WithCredentialsSecret authenticates the proxy with a service account key
// kept in the named Secret instead of the pod's Workload Identity. The
// Secret is mounted read-only, into the proxy container only, in a volume
// named "<name>-credentials" with file mode 0444, and passed with
// --credentials-file; the key holding the JSON defaults to "credentials.json"
// ([WithCredentialsSecretKey] changes it). The kubelet writes the files as
// root and the proxy runs as uid 65532, so a narrower mode would need a pod
// fsGroup, which the library does not impose. Prefer Workload Identity where
// you can: a key file is a long-lived secret.
func WithCredentialsSecret(secretName string) Option {
	return optionFunc(func(c *config) { c.credentialsSecret = secretName })
}

// WithCredentialsSecretKey sets the key of the [WithCredentialsSecret]
// Secret that holds the service account JSON (default "credentials.json").
func WithCredentialsSecretKey(key string) Option {
	return optionFunc(func(c *config) { c.credentialsKey = key })
}

// WithImpersonation makes the proxy act as the first service account of
// the chain (--impersonate-service-account). The others are delegates,
// taken from the end: the pod's own identity impersonates the last
// account, each account the one before it, and the second account the
// first. Give at least one email.
func WithImpersonation(chain ...string) Option {
	// A non-nil empty chain tells "called without emails" from "not called".
	chain = append(make([]string, 0, len(chain)), chain...)
	return optionFunc(func(c *config) { c.impersonate = chain })
}

// WithLazyRefresh makes the proxy refresh certificates only when a
// connection needs them (--lazy-refresh, proxy 2.11 or newer), for pods
// whose CPU is throttled between requests, such as Cloud Run or pods with a
// tight CPU limit.
func WithLazyRefresh() Option {
	return setFlag("lazy-refresh", "true")
}

// WithMaxConnections caps the open connections across all instances
// (--max-connections; 0, the default, is unlimited). With
// [WithReadinessProbe], the pod turns unready while the cap is reached.
func WithMaxConnections(n uint64) Option {
	return setFlag("max-connections", strconv.FormatUint(n, 10))
}

// WithMinSigtermDelay keeps the proxy accepting new connections for d after
// SIGTERM (--min-sigterm-delay, proxy 2.12 or newer), so that clients which
// have not yet noticed the pod is terminating can still connect.
func WithMinSigtermDelay(d time.Duration) Option {
	return setFlag("min-sigterm-delay", durationValue(d))
}

// WithMaxSigtermDelay makes the proxy wait up to d for open connections to
// close after SIGTERM (--max-sigterm-delay). Keep it below the pod's
// terminationGracePeriodSeconds, or the kubelet kills the proxy first.
func WithMaxSigtermDelay(d time.Duration) Option {
	return setFlag("max-sigterm-delay", durationValue(d))
}

// WithQuiet logs errors only (--quiet).
func WithQuiet() Option {
	return setFlag("quiet", "true")
}

// WithDebugLogs logs at debug level (--debug-logs, proxy 2.9 or newer).
func WithDebugLogs() Option {
	return setFlag("debug-logs", "true")
}

// WithPrometheus serves Prometheus metrics at /metrics on the health port
// (--prometheus), with metric names under namespace when it is not empty
// (--prometheus-namespace).
func WithPrometheus(namespace string) Option {
	return setFlag("prometheus", "true").and("prometheus-namespace", namespace)
}

// WithTelemetry exports metrics and traces to Google Cloud; see [Telemetry].
func WithTelemetry(t Telemetry) Option {
	return setFlag("telemetry-project", t.Project).
		and("telemetry-prefix", t.Prefix).
		and("telemetry-sample-rate", countValue(t.SampleRate)).
		and("disable-metrics", boolValue(t.DisableMetrics)).
		and("disable-traces", boolValue(t.DisableTraces))
}

// WithQuitQuitQuit lets containers of the pod stop the proxy with an HTTP
// GET or POST to localhost:<admin port>/quitquitquit (--quitquitquit); the
// proxy then exits 0. [ForJob] turns it on by itself.
func WithQuitQuitQuit() Option {
	return setFlag("quitquitquit", "true")
}

// WithDebugServer serves Go's pprof endpoints on the admin port (--debug).
func WithDebugServer() Option {
	return setFlag("debug", "true")
}

// WithSQLAdminAPIEndpoint points the proxy at another SQL Admin API
// endpoint (--sqladmin-api-endpoint), for example a regional or test one. It
// cannot be combined with [WithUniverseDomain].
func WithSQLAdminAPIEndpoint(url string) Option {
	return setFlag("sqladmin-api-endpoint", url)
}

// WithUniverseDomain sets the Google Cloud universe for sovereign clouds
// (--universe-domain, proxy 2.10 or newer).
func WithUniverseDomain(domain string) Option {
	return setFlag("universe-domain", domain)
}

// WithUserAgent adds text to the User-Agent the proxy sends with its
// Google API calls (--user-agent), so that a platform can tell its
// proxies' traffic apart in its logs. The Cloud SQL Proxy Operator sets one
// for the proxies it injects; [FromContainer] keeps it.
func WithUserAgent(text string) Option {
	return setFlag("user-agent", text)
}

// WithBuiltInMetrics turns the proxy's built-in client metrics on or off
// (--enable-builtin-metrics, proxy 2.27 or newer). From 2.27 the proxy
// exports them by default to Cloud Monitoring in each instance's project;
// its identity needs roles/monitoring.metricWriter there, and without it the
// proxy logs one warning and keeps serving.
//
// Without this option the library passes nothing and the proxy's default
// applies. That is deliberate: a container the library builds then behaves
// like the same proxy written by hand, [FromContainer] keeps an adopted
// proxy's behaviour exactly, and the default follows upstream's choice
// (which already keeps the export off outside the default universe). Pass
// false where the identity may not write metrics or egress to Cloud
// Monitoring is blocked; false renders nothing on an older proxy, which
// exports no built-in metrics, while true needs 2.27.
func WithBuiltInMetrics(on bool) Option {
	return setFlag("enable-builtin-metrics", strconv.FormatBool(on))
}

// WithComputePlatform overrides the auto-detected compute_platform label of
// the built-in client metrics (--compute-platform, proxy 2.27 or newer): one
// of gce, gke, cloud_run, app_engine, cloud_functions or ai_studio. The
// proxy detects GKE by itself; the option is for platforms it cannot detect.
func WithComputePlatform(name string) Option {
	return setFlag("compute-platform", name)
}

// WithApplicationName sets the application_name label of the built-in
// client metrics (--application-name, proxy 2.27 or newer), which groups the
// metrics of every replica of one application. Use the workload's name, not
// the pod's: a per-pod value splits the application into one series per
// pod.
func WithApplicationName(name string) Option {
	return setFlag("application-name", name)
}

// WithQuotaProject bills SQL Admin API quota to project (--quota-project).
func WithQuotaProject(project string) Option {
	return setFlag("quota-project", project)
}

// WithStartupProbe changes the startup probe on /startup. Defaults: period
// 1s, timeout 5s, failureThreshold 60 (a minute to bind the listeners), in
// the ranges upstream recommends. While it has not succeeded, a native
// sidecar holds back every later container of the pod.
func WithStartupProbe(t ProbeTiming) Option {
	return optionFunc(func(c *config) { c.startup = t })
}

// WithLivenessProbe changes the liveness probe on /liveness. Defaults:
// period 10s, timeout 10s, failureThreshold 3, in the ranges upstream
// recommends.
func WithLivenessProbe(t ProbeTiming) Option {
	return optionFunc(func(c *config) { c.liveness = t })
}

// WithReadinessProbe adds a readiness probe on /readiness (there is none by
// default). Defaults: period 10s, timeout 5s, failureThreshold 3.
//
// A sidecar's readiness counts toward the pod's Ready condition: the pod
// leaves its Services' endpoints while the proxy is shutting down or, with
// [WithMaxConnections], while every connection slot is taken. That is why
// upstream advises against it for most workloads.
func WithReadinessProbe(t ProbeTiming) Option {
	return optionFunc(func(c *config) { c.readiness = &t })
}

// WithAppEnv names environment variables that tell the application
// containers where to reach instance, given by its connection name or DNS
// name (without query parameters). See [AppEnv]. [Proxy.Attach] refuses to overwrite a
// variable the application already sets to another value.
func WithAppEnv(instance string, env AppEnv) Option {
	return optionFunc(func(c *config) { c.appEnv = append(c.appEnv, appEnvFor{instance, env}) })
}

// WithLegacySidecar runs the proxy as a regular container, placed first in
// the pod's containers, for clusters older than Kubernetes 1.29 or with the
// SidecarContainers feature gate off, where a native sidecar would leave the
// pod stuck in Init. A postStart hook runs "cloud-sql-proxy wait" (proxy 2.8
// or newer), and the kubelet does not start the next container until that
// hook returns, so the application still starts after the proxy listens. Init
// containers run before the proxy in this mode and cannot use the database,
// and in a Job the proxy keeps the pod running: use [ForJob] there.
func WithLegacySidecar() Option {
	return optionFunc(func(c *config) { c.mode = modeLegacy })
}

// ForJob runs the proxy as a regular container that ends on its own, for
// Job pods on clusters without native sidecars. On Kubernetes 1.29 and
// newer, prefer the default native sidecar: the kubelet stops it when the
// Job's containers finish, with no cooperation from the application.
//
// Like [WithLegacySidecar], the proxy is the first container and a
// postStart hook holds the application back until the proxy has started.
// The proxy serves --quitquitquit on the admin port, and every application
// container gets the environment variable [QuitURLsEnv] holding the URL to
// call (GET or POST) when it is done; the proxy then exits 0. Ignore the
// call's outcome: the proxy sometimes exits before it has written its reply
// (seen with 2.25.3), so "curl -f" may report an empty reply. With timeout
// > 0 (whole seconds), the proxy also stops itself after timeout: a shell
// wrapper sends it SIGTERM and exits with the proxy's own status (0 on a
// clean stop). That needs /bin/sh, so the default image becomes the
// "-alpine" variant; a distroless image of the official repository is
// rejected. Attaching to a pod whose restartPolicy is Always (or unset)
// fails, since that pod can never complete.
func ForJob(timeout time.Duration) Option {
	return optionFunc(func(c *config) { c.mode = modeJob; c.jobTimeout = timeout })
}
