package cloudsqlproxy

import (
	"errors"

	corev1 "k8s.io/api/core/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
)

// Defaults. Each is documented on the option that changes it.
const (
	// DefaultVersion is the Cloud SQL Auth Proxy version of [DefaultImage].
	DefaultVersion = "2.28.0"
	// DefaultImage is the distroless proxy image the library runs by default.
	DefaultImage = "gcr.io/cloud-sql-connectors/cloud-sql-proxy:" + DefaultVersion
	// DefaultName is the proxy container's name; see [WithName].
	DefaultName = "cloudsql-proxy"
	// DefaultPort is the first instance's listener port; see [WithPort].
	DefaultPort int32 = 5432
	// DefaultHealthPort is the health-check port; see [WithHealthPort].
	DefaultHealthPort int32 = 9801
	// DefaultAdminPort is the admin server's port; see [WithAdminPort].
	DefaultAdminPort int32 = 9091
	// HealthPortName is the name under which the container declares its
	// health port and by which its probes refer to it.
	HealthPortName = "csql-health"
	// QuitURLsEnv is the environment variable through which [ForJob] tells
	// application containers the URL that stops the proxy. The name is the
	// one Google's Cloud SQL Proxy Operator uses, so applications written
	// for either work with both.
	QuitURLsEnv = "CSQL_PROXY_QUIT_URLS"
)

// Sentinel errors, for callers that branch on the kind of failure with
// [errors.Is]. The errors returned also list every problem: get them with
// [Problems], or use [errors.As] with an
// [k8s.io/apimachinery/pkg/util/errors.Aggregate] to get them one by one
// as errors (each unwraps to a
// [k8s.io/apimachinery/pkg/util/validation/field.Error]).
var (
	// ErrInvalidConfig: New was given a configuration the proxy would reject
	// or that cannot work in a pod.
	ErrInvalidConfig = errors.New("cloudsqlproxy: invalid configuration")
	// ErrUnsupportedVersion: an option needs a newer proxy than the image's.
	// It comes together with ErrInvalidConfig.
	ErrUnsupportedVersion = errors.New("cloudsqlproxy: option not supported by this proxy version")
	// ErrConflict: Attach found something in the pod that clashes with the
	// proxy, such as a port, a container name or an environment variable.
	ErrConflict = errors.New("cloudsqlproxy: conflict with the pod spec")
	// ErrNilPodSpec: Attach or Detach was given a nil PodSpec.
	ErrNilPodSpec = errors.New("cloudsqlproxy: nil PodSpec")
	// ErrNotProxy: FromContainer was given a container that runs no Cloud
	// SQL Auth Proxy.
	ErrNotProxy = errors.New("cloudsqlproxy: not a Cloud SQL Auth Proxy container")
	// ErrUnsupportedKind: PodSpecOf was given an object that has no pod
	// template.
	ErrUnsupportedKind = errors.New("cloudsqlproxy: object kind has no pod spec")
)

const (
	binary          = "/cloud-sql-proxy"
	credentialsDir  = "/var/run/secrets/cloudsql"
	tokenDir        = "/var/run/secrets/kubernetes.io/serviceaccount"
	defaultCredsKey = "credentials.json"
	nonRootID       = 65532 // the uid/gid of the distroless and alpine images' nonroot user
	maxSocketPath   = 107   // sun_path is 108 bytes including the trailing NUL
	officialRepo    = "cloud-sql-connectors/cloud-sql-proxy"
)

// Proxy is a validated Cloud SQL Auth Proxy configuration: the container it
// runs in and what attaching it to a pod adds. A Proxy is immutable and safe
// for concurrent use; build one with [New] and reuse it for every pod.
type Proxy struct {
	mode mode
	// The container's parts. Container assembles a fresh container from
	// them on every call: that costs what a hand-written literal costs,
	// where keeping a built container would make New build one and Attach
	// deep-copy it. Slices here are never written after New.
	name, image string
	pullPolicy  corev1.PullPolicy
	command     []string
	args        []string
	healthPort  int32
	resources   *corev1.ResourceRequirements // nil: the defaults
	startup     ProbeTiming
	liveness    ProbeTiming
	readiness   *ProbeTiming
	hook        []string // the postStart exec command, if any
	mounts      []corev1.VolumeMount

	volumes []corev1.Volume
	// appEnv and appMounts are added to every container that can use the
	// proxy; see Attach.
	appEnv    []corev1.EnvVar
	appMounts []corev1.VolumeMount
	// ports are the ports the proxy binds in the pod's network namespace.
	ports []proxyPort
	// adopted is the container this proxy was read from, if any, and
	// adoptFacts what reading it learnt for Adoption.
	adopted    *corev1.Container
	adoptFacts *adoptFacts
	// listenAddress is the TCP listeners' address, "" with Unix sockets.
	listenAddress string
}

type proxyPort struct {
	number   int32
	what     string
	instance string // of a listener; joined to what only for an error
}

func (pp proxyPort) String() string {
	if pp.instance == "" {
		return pp.what
	}
	return pp.what + " " + pp.instance
}

// New validates the configuration and builds the proxy for instance, a
// Cloud SQL connection name "project:region:instance" or a DNS name whose
// TXT record holds one (see [WithInstance] for both forms and the
// per-instance query parameters). It reports every invalid value at once,
// in an error that wraps [ErrInvalidConfig].
func New(instance string, opts ...Option) (*Proxy, error) {
	c := defaultConfig(instance)
	c.apply(opts)
	return newFromConfig(&c)
}

// newFromConfig resolves, validates and builds a configuration whose
// options have been applied.
func newFromConfig(c *config) (*Proxy, error) {
	p := resolve(c)
	if errs, version := validate(&p); len(errs) > 0 {
		return nil, &configError{errs.aggregate(), version}
	}
	return build(&p), nil
}

// Name returns the proxy container's name.
func (p *Proxy) Name() string { return p.name }

// configError is New's error: the field errors, matching ErrInvalidConfig
// and, when an option needs a newer proxy, ErrUnsupportedVersion.
type configError struct {
	errs    utilerrors.Aggregate
	version bool
}

func (e *configError) Error() string { return ErrInvalidConfig.Error() + ": " + e.errs.Error() }

func (e *configError) Unwrap() error { return e.errs }

func (e *configError) Is(target error) bool {
	return target == ErrInvalidConfig || (e.version && target == ErrUnsupportedVersion)
}
