package cloudsqlproxy

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Defaults. Each is documented on the option that changes it.
const (
	// DefaultVersion is the Cloud SQL Auth Proxy version of [DefaultImage].
	DefaultVersion = "2.25.3"
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
// [errors.Is]. The errors returned also carry the field errors: use
// [errors.As] with an [k8s.io/apimachinery/pkg/util/errors.Aggregate] to
// get them one by one.
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

type mode int

const (
	modeNative mode = iota
	modeLegacy
	modeJob
)

type appEnvFor struct {
	instance string
	env      AppEnv
}

// config is what the options write; New validates it and turns it into a
// Proxy.
type config struct {
	instances         []string
	port              int32
	portSet           bool
	healthPort        int32
	adminPort         int32
	name              string
	image             string
	version           string
	pullPolicy        corev1.PullPolicy
	resources         *corev1.ResourceRequirements
	address           string
	privateIP         bool
	psc               bool
	autoIAMAuthn      bool
	socketDir         string
	credentialsSecret string
	credentialsKey    string
	impersonate       []string
	lazyRefresh       bool
	maxConns          uint64
	minSigterm        time.Duration
	maxSigterm        time.Duration
	quiet             bool
	debugLogs         bool
	prometheus        bool
	promNamespace     string
	telemetry         Telemetry
	quitquitquit      bool
	debugServer       bool
	adminAPIEndpoint  string
	universeDomain    string
	quotaProject      string
	startup           ProbeTiming
	liveness          ProbeTiming
	readiness         *ProbeTiming
	appEnv            []appEnvFor
	mode              mode
	jobTimeout        time.Duration
}

// instance is one parsed connection name.
type instance struct {
	name      string
	port      int32
	privateIP *bool
	psc       *bool
	autoIAM   *bool
}

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
	c := config{
		instances:  []string{instance},
		port:       DefaultPort,
		healthPort: DefaultHealthPort,
		adminPort:  DefaultAdminPort,
		name:       DefaultName,
		pullPolicy: corev1.PullIfNotPresent,
		address:    "127.0.0.1",
	}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	if c.image == "" {
		c.image = DefaultImage
		if c.mode == modeJob && c.jobTimeout > 0 {
			c.image += "-alpine"
		}
	}
	v := validator{c: &c}
	insts := v.validate()
	if len(v.errs) > 0 {
		return nil, &configError{v.errs.ToAggregate(), v.versionErr}
	}
	return build(&c, insts), nil
}

// Name returns the proxy container's name.
func (p *Proxy) Name() string { return p.name }

// Container returns the proxy container. Each call returns a fresh deep
// copy, which the caller may change freely.
func (p *Proxy) Container() corev1.Container {
	c := corev1.Container{
		Name:            p.name,
		Image:           p.image,
		ImagePullPolicy: p.pullPolicy,
		Command:         slices.Clone(p.command),
		Args:            slices.Clone(p.args),
		Ports: []corev1.ContainerPort{{
			Name:          HealthPortName,
			ContainerPort: p.healthPort,
			Protocol:      corev1.ProtocolTCP,
		}},
		Resources:                resources(p.resources),
		VolumeMounts:             slices.Clone(p.mounts),
		StartupProbe:             probe("/startup", p.startup),
		LivenessProbe:            probe("/liveness", p.liveness),
		TerminationMessagePath:   corev1.TerminationMessagePathDefault,
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		SecurityContext:          securityContext(),
	}
	if p.readiness != nil {
		c.ReadinessProbe = probe("/readiness", *p.readiness)
	}
	if p.mode == modeNative {
		always := corev1.ContainerRestartPolicyAlways
		c.RestartPolicy = &always
	}
	if p.hook != nil {
		c.Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: slices.Clone(p.hook)}}}
	}
	return c
}

// Volumes returns the volumes the proxy container mounts, which
// [Proxy.Attach] adds to the pod: the Unix socket directory and the
// credentials Secret, when configured. The result is a fresh copy, nil when
// there are none.
func (p *Proxy) Volumes() []corev1.Volume {
	if len(p.volumes) == 0 {
		return nil
	}
	out := make([]corev1.Volume, len(p.volumes))
	for i := range p.volumes {
		p.volumes[i].DeepCopyInto(&out[i])
	}
	return out
}

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

// version is a proxy release, compared to gate options.
type version struct{ major, minor, patch int }

func (v version) less(o version) bool {
	if v.major != o.major {
		return v.major < o.major
	}
	if v.minor != o.minor {
		return v.minor < o.minor
	}
	return v.patch < o.patch
}

func (v version) String() string { return fmt.Sprintf("%d.%d.%d", v.major, v.minor, v.patch) }

// parseVersion reads "2.25.3", "v2.25.3" or "2.25.3-alpine"; the suffix is
// returned as the image variant. It accepts what
// ^v?(\d{1,4})\.(\d{1,4})\.(\d{1,4})(-[0-9A-Za-z.-]+)?$ matches, written out
// because New runs it on every call and the regexp cost a tenth of New.
func parseVersion(s string) (v version, variant string, ok bool) {
	core, variant, hasVariant := strings.Cut(strings.TrimPrefix(s, "v"), "-")
	if hasVariant && (variant == "" || strings.TrimLeft(variant, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz.-") != "") {
		return version{}, "", false
	}
	var n [3]int
	for i := range n {
		part, rest, found := strings.Cut(core, ".")
		if found == (i == 2) || len(part) < 1 || len(part) > 4 || strings.TrimLeft(part, "0123456789") != "" {
			return version{}, "", false
		}
		n[i], _ = strconv.Atoi(part)
		core = rest
	}
	return version{n[0], n[1], n[2]}, variant, true
}

// imageRef splits an image reference into repository and tag; the tag is
// empty when there is none.
func imageRef(image string) (repo, tag string) {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndexByte(image, ':'); i > strings.LastIndexByte(image, '/') {
		return image[:i], image[i+1:]
	}
	return image, ""
}

// Features and the proxy release that introduced them (CHANGELOG, checked
// against the binaries). Everything the library always emits must be
// available from minVersion on.
var (
	minVersion          = version{2, 6, 0} // --exit-zero-on-sigterm
	sincePSC            = version{2, 5, 0}
	sinceWait           = version{2, 8, 0}
	sinceDebugLogs      = version{2, 9, 0}
	sinceUniverseDomain = version{2, 10, 0}
	sinceLazyRefresh    = version{2, 11, 0}
	sinceMinSigterm     = version{2, 12, 0}
)

// isConnName reports whether s is a Cloud SQL connection name: an
// optionally domain-scoped project ID, a region and an instance ID. It
// accepts what
//
//	^(?:[a-z0-9][a-z0-9.-]*\.[a-z]{2,}:)?[a-z][a-z0-9-]{4,28}[a-z0-9]:[a-z]+(?:-[a-z]+)*[0-9]+:[a-z](?:[a-z0-9-]{0,96}[a-z0-9])?$
//
// matches, written out because New checks every instance and the regexp
// (run by the backtracker, with its bounded repeats) took a quarter of New.
func isConnName(s string) bool {
	var domain string
	switch strings.Count(s, ":") {
	case 3:
		domain, s, _ = strings.Cut(s, ":")
		d := strings.LastIndexByte(domain, '.')
		if d < 1 || len(domain)-d-1 < 2 || !allIn(domain[d+1:], cLower) || !allIn(domain[:1], cLower|cDigit) || !allIn(domain[1:d], cLower|cDigit|cDot|cHyphen) {
			return false
		}
	case 2:
	default:
		return false
	}
	project, s, _ := strings.Cut(s, ":")
	region, inst, _ := strings.Cut(s, ":")
	// Project: 6 to 30 characters, a letter first, no hyphen last.
	if len(project) < 6 || len(project) > 30 || !allIn(project[:1], cLower) ||
		!allIn(project[1:len(project)-1], cLower|cDigit|cHyphen) || !allIn(project[len(project)-1:], cLower|cDigit) {
		return false
	}
	// Region: words of letters joined by single hyphens, then digits.
	i := 0
	for {
		j := i
		for j < len(region) && charClass[region[j]] == cLower {
			j++
		}
		if j == i {
			return false
		}
		i = j
		if i < len(region) && region[i] == '-' {
			i++
			continue
		}
		break
	}
	if i == len(region) || !allIn(region[i:], cDigit) {
		return false
	}
	// Instance: 1 to 98 characters, a letter first, no hyphen last.
	return len(inst) >= 1 && len(inst) <= 98 && allIn(inst[:1], cLower) &&
		(len(inst) == 1 || allIn(inst[1:len(inst)-1], cLower|cDigit|cHyphen) && allIn(inst[len(inst)-1:], cLower|cDigit))
}

// Character classes of connection names.
const (
	cLower uint8 = 1 << iota
	cDigit
	cDot
	cHyphen
)

var charClass = func() (t [256]uint8) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = cLower
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = cDigit
	}
	t['.'], t['-'] = cDot, cHyphen
	return t
}()

// allIn reports whether every byte of s is in one of the classes of mask.
func allIn(s string, mask uint8) bool {
	for i := 0; i < len(s); i++ {
		if charClass[s[i]]&mask == 0 {
			return false
		}
	}
	return true
}

var (
	projectRE = regexp.MustCompile(`^(?:[a-z0-9][a-z0-9.-]*\.[a-z]{2,}:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$`)
	// A service account email, as --impersonate-service-account takes them.
	emailRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._+-]*@[a-z0-9][a-z0-9.-]*\.[a-z]{2,}$`)
)

type validator struct {
	c          *config
	errs       field.ErrorList
	versionErr bool
	ver        version
	verKnown   bool
}

func (v *validator) add(e *field.Error) { v.errs = append(v.errs, e) }

// needs rejects an option the configured proxy version predates.
func (v *validator) needs(p *field.Path, value any, since version, what string) {
	if v.verKnown && v.ver.less(since) {
		v.versionErr = true
		v.add(field.Invalid(p, value, fmt.Sprintf("%s needs proxy %s or newer; the image is %s", what, since, v.ver)))
	}
}

func (v *validator) validate() []instance {
	c := v.c
	v.validateImage()
	insts := v.validateInstances()
	v.validatePorts(insts)
	v.validateStrings()
	v.validateProbes()
	v.validateModes()
	v.validateAppEnv()

	if c.privateIP && c.psc {
		v.add(field.Invalid(field.NewPath("WithPSC"), true, "cannot be combined with WithPrivateIP: the proxy accepts one IP type"))
	}
	if c.psc {
		v.needs(field.NewPath("WithPSC"), true, sincePSC, "--psc")
	}
	if c.lazyRefresh {
		v.needs(field.NewPath("WithLazyRefresh"), true, sinceLazyRefresh, "--lazy-refresh")
	}
	if c.debugLogs {
		v.needs(field.NewPath("WithDebugLogs"), true, sinceDebugLogs, "--debug-logs")
	}
	if c.quiet && c.debugLogs {
		v.add(field.Invalid(field.NewPath("WithQuiet"), true, "cannot be combined with WithDebugLogs"))
	}
	if c.minSigterm < 0 {
		v.add(field.Invalid(field.NewPath("WithMinSigtermDelay"), c.minSigterm.String(), "must not be negative"))
	} else if c.minSigterm > 0 {
		v.needs(field.NewPath("WithMinSigtermDelay"), c.minSigterm.String(), sinceMinSigterm, "--min-sigterm-delay")
	}
	if c.maxSigterm < 0 {
		v.add(field.Invalid(field.NewPath("WithMaxSigtermDelay"), c.maxSigterm.String(), "must not be negative"))
	}
	if c.adminAPIEndpoint != "" && c.universeDomain != "" {
		v.add(field.Invalid(field.NewPath("WithSQLAdminAPIEndpoint"), c.adminAPIEndpoint, "cannot be combined with WithUniverseDomain"))
	}
	if c.universeDomain != "" {
		v.needs(field.NewPath("WithUniverseDomain"), c.universeDomain, sinceUniverseDomain, "--universe-domain")
	}
	if c.resources != nil {
		v.validateResources()
	}
	return insts
}

func (v *validator) validateImage() {
	c := v.c
	if strings.TrimSpace(c.image) != c.image || strings.ContainsAny(c.image, " \t\r\n") {
		v.add(field.Invalid(field.NewPath("WithImage"), c.image, "must not contain white space"))
	}
	_, tag := imageRef(c.image)
	if c.version != "" {
		ver, _, ok := parseVersion(c.version)
		if !ok {
			v.add(field.Invalid(field.NewPath("WithProxyVersion"), c.version, "must be a version such as 2.25.3"))
		}
		v.ver, v.verKnown = ver, ok
	} else if ver, _, ok := parseVersion(tag); ok {
		v.ver, v.verKnown = ver, true
	}
	if v.verKnown && v.ver.less(minVersion) {
		v.versionErr = true
		v.add(field.Invalid(field.NewPath("WithImage"), c.image, fmt.Sprintf("proxy %s is too old: the library needs %s or newer (--exit-zero-on-sigterm)", v.ver, minVersion)))
	}
}

// validateInstances parses every connection name and assigns ports.
func (v *validator) validateInstances() []instance {
	c := v.c
	insts := make([]instance, 0, len(c.instances))
	next := c.port
	seen := make(map[string]bool, len(c.instances))
	for i, raw := range c.instances {
		in, ok := v.parseInstance(func() *field.Path { return instancePath(i) }, raw)
		if !ok {
			continue
		}
		key := instanceKey(in.name) // one DNS name with and without its trailing dot
		if seen[key] {
			v.add(field.Duplicate(instancePath(i), in.name))
		}
		seen[key] = true
		if c.socketDir == "" {
			if in.port == 0 {
				in.port = next
			} else if i == 0 && c.portSet && c.port != in.port {
				v.add(field.Invalid(field.NewPath("WithPort"), c.port, fmt.Sprintf("conflicts with the instance's ?port=%d", in.port)))
			}
			next = in.port + 1
		}
		insts = append(insts, in)
	}
	return insts
}

// instanceKeys are the per-instance query parameters New accepts.
var instanceKeys = []string{"port", "private-ip", "psc", "auto-iam-authn"}

// instancePath names the i-th connection name: New's argument, then the
// WithInstance options. Paths are built only for errors, since building
// them up front was a good part of New's allocations.
func instancePath(i int) *field.Path {
	if i == 0 {
		return field.NewPath("instance")
	}
	return field.NewPath("WithInstance").Index(i - 1)
}

func (v *validator) parseInstance(p func() *field.Path, raw string) (instance, bool) {
	c := v.c
	name, query, hasQuery := strings.Cut(raw, "?")
	in := instance{name: name}
	ok := true
	if name == "" {
		v.add(field.Required(p(), "a Cloud SQL connection name project:region:instance or a DNS name"))
		return in, false
	}
	if !v.checkInstanceName(p, raw, name) {
		ok = false
	}
	if !hasQuery {
		return in, ok
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		v.add(field.Invalid(p(), raw, "query parameters cannot be parsed: "+err.Error()))
		return in, false
	}
	for _, key := range sortedKeys(q) {
		vals := q[key]
		kp := func() *field.Path { return p().Key(key) }
		if len(vals) != 1 {
			v.add(field.Invalid(kp(), strings.Join(vals, ","), "must be given once"))
			ok = false
			continue
		}
		val := vals[0]
		switch key {
		case "port":
			n, err := strconv.ParseInt(val, 10, 32)
			if err != nil || n < 1 || n > 65535 {
				v.add(field.Invalid(kp(), val, "must be a port number between 1 and 65535"))
				ok = false
				continue
			}
			if c.socketDir != "" {
				v.add(field.Invalid(kp(), val, "a port cannot be combined with WithUnixSocket"))
				ok = false
			}
			in.port = int32(n)
		case "private-ip", "psc", "auto-iam-authn":
			b, isBool := parseBool(val)
			if !isBool {
				v.add(field.Invalid(kp(), val, "must be true or false"))
				ok = false
				continue
			}
			switch key {
			case "private-ip":
				in.privateIP = &b
			case "psc":
				in.psc = &b
				v.needs(kp(), val, sincePSC, "the psc parameter")
			default:
				in.autoIAM = &b
			}
		default:
			v.add(field.NotSupported(kp(), key, instanceKeys))
			ok = false
		}
	}
	if in.privateIP != nil && in.psc != nil {
		v.add(field.Invalid(p(), raw, "private-ip and psc cannot both be given"))
		ok = false
	}
	if in.psc != nil && *in.psc && c.privateIP {
		v.add(field.Invalid(p().Key("psc"), "true", "conflicts with WithPrivateIP"))
		ok = false
	}
	if in.privateIP != nil && *in.privateIP && c.psc {
		v.add(field.Invalid(p().Key("private-ip"), "true", "conflicts with WithPSC"))
		ok = false
	}
	return in, ok
}

// parseBool accepts what the proxy's own query parser accepts.
func parseBool(s string) (value, ok bool) {
	switch strings.ToLower(s) {
	case "true", "t", "":
		return true, true
	case "false", "f":
		return false, true
	}
	return false, false
}

func nameErrors(name string) []string {
	if name == DefaultName {
		return nil
	}
	return validation.IsDNS1123Label(name)
}

func sortedKeys[K ~string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func validPort(n int32) bool { return n >= 1 && n <= 65535 }

func (v *validator) validatePorts(insts []instance) {
	c := v.c
	if !validPort(c.port) {
		v.add(field.Invalid(field.NewPath("WithPort"), c.port, "must be between 1 and 65535"))
	}
	if c.portSet && c.socketDir != "" {
		v.add(field.Invalid(field.NewPath("WithPort"), c.port, "cannot be combined with WithUnixSocket"))
	}
	if !validPort(c.healthPort) {
		v.add(field.Invalid(field.NewPath("WithHealthPort"), c.healthPort, "must be between 1 and 65535"))
	}
	if !validPort(c.adminPort) {
		v.add(field.Invalid(field.NewPath("WithAdminPort"), c.adminPort, "must be between 1 and 65535"))
	}
	used := map[int32]string{c.healthPort: "WithHealthPort"}
	if c.usesAdmin() {
		if prev, dup := used[c.adminPort]; dup {
			v.add(field.Invalid(field.NewPath("WithAdminPort"), c.adminPort, "is also the port of "+prev))
		}
		used[c.adminPort] = "WithAdminPort"
	}
	for i, in := range insts {
		if in.port == 0 {
			continue
		}
		if !validPort(in.port) {
			if !validPort(c.port) {
				continue // reported once, at WithPort
			}
			v.add(field.Invalid(instancePath(i).Key("port"), in.port, "must be between 1 and 65535 (later instances count up from WithPort)"))
			continue
		}
		if prev, dup := used[in.port]; dup {
			v.add(field.Invalid(instancePath(i).Key("port"), in.port, "is also the port of "+prev))
			continue
		}
		used[in.port] = "instance " + in.name
	}
}

func (c *config) usesAdmin() bool { return c.quitquitquit || c.debugServer || c.mode == modeJob }

func (v *validator) validateStrings() {
	c := v.c
	// The default name is a valid label; its regexp check was a tenth of New.
	for _, msg := range nameErrors(c.name) {
		v.add(field.Invalid(field.NewPath("WithName"), c.name, msg))
	}
	// The volume names derive from the container name and must stay labels.
	if longest := c.name + "-credentials"; len(longest) > validation.DNS1123LabelMaxLength && (c.credentialsSecret != "" || c.socketDir != "") {
		v.add(field.TooLong(field.NewPath("WithName"), c.name, validation.DNS1123LabelMaxLength-len("-credentials")))
	}
	if c.address != "127.0.0.1" {
		p := field.NewPath("WithListenAddress")
		if c.socketDir != "" {
			v.add(field.Invalid(p, c.address, "cannot be combined with WithUnixSocket"))
		} else if net.ParseIP(c.address) == nil {
			v.add(field.Invalid(p, c.address, "must be an IP address (the proxy rejects host names such as localhost)"))
		}
	}
	if c.socketDir != "" {
		v.validateSocketDir()
	}
	switch c.pullPolicy {
	case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		v.add(field.NotSupported(field.NewPath("WithImagePullPolicy"), c.pullPolicy,
			[]string{string(corev1.PullAlways), string(corev1.PullIfNotPresent), string(corev1.PullNever)}))
	}
	if c.credentialsSecret != "" {
		for _, msg := range validation.IsDNS1123Subdomain(c.credentialsSecret) {
			v.add(field.Invalid(field.NewPath("WithCredentialsSecret"), c.credentialsSecret, msg))
		}
	}
	if c.credentialsKey != "" {
		if c.credentialsSecret == "" {
			v.add(field.Invalid(field.NewPath("WithCredentialsSecretKey"), c.credentialsKey, "needs WithCredentialsSecret"))
		}
		for _, msg := range validation.IsConfigMapKey(c.credentialsKey) {
			v.add(field.Invalid(field.NewPath("WithCredentialsSecretKey"), c.credentialsKey, msg))
		}
	}
	if c.impersonate != nil && len(c.impersonate) == 0 {
		v.add(field.Required(field.NewPath("WithImpersonation"), "at least one service account email"))
	}
	for i, e := range c.impersonate {
		if !emailRE.MatchString(e) {
			v.add(field.Invalid(field.NewPath("WithImpersonation").Index(i), e, "must be a service account email"))
		}
	}
	if c.promNamespace != "" && !promNameRE.MatchString(c.promNamespace) {
		v.add(field.Invalid(field.NewPath("WithPrometheus"), c.promNamespace, "must be a Prometheus metric name prefix ([a-zA-Z_][a-zA-Z0-9_]*)"))
	}
	t := c.telemetry
	tp := func() *field.Path { return field.NewPath("WithTelemetry") } // only for an error
	if t.Project != "" && !projectRE.MatchString(t.Project) {
		v.add(field.Invalid(tp().Child("Project"), t.Project, "must be a Google Cloud project ID"))
	}
	if t.Project == "" && (t.Prefix != "" || t.SampleRate != 0 || t.DisableMetrics || t.DisableTraces) {
		v.add(field.Required(tp().Child("Project"), "the other telemetry settings have no effect without it"))
	}
	if t.Prefix != "" && !printable(t.Prefix) {
		v.add(field.Invalid(tp().Child("Prefix"), t.Prefix, "must be printable ASCII without spaces"))
	}
	if t.SampleRate < 0 {
		v.add(field.Invalid(tp().Child("SampleRate"), t.SampleRate, "must not be negative"))
	}
	if c.quotaProject != "" && !projectRE.MatchString(c.quotaProject) {
		v.add(field.Invalid(field.NewPath("WithQuotaProject"), c.quotaProject, "must be a Google Cloud project ID"))
	}
	if c.universeDomain != "" {
		for _, msg := range validation.IsDNS1123Subdomain(c.universeDomain) {
			v.add(field.Invalid(field.NewPath("WithUniverseDomain"), c.universeDomain, msg))
		}
	}
	if c.adminAPIEndpoint != "" {
		u, err := url.Parse(c.adminAPIEndpoint)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || !printable(c.adminAPIEndpoint) {
			v.add(field.Invalid(field.NewPath("WithSQLAdminAPIEndpoint"), c.adminAPIEndpoint, "must be an absolute http(s) URL"))
		}
	}
}

var promNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

func (v *validator) validateSocketDir() {
	c := v.c
	p := field.NewPath("WithUnixSocket")
	d := c.socketDir
	if !path.IsAbs(d) || path.Clean(d) != d || d == "/" || !printable(d) || strings.Contains(d, ":") {
		v.add(field.Invalid(p, d, "must be a clean absolute directory path other than /, of printable characters without ':'"))
		return
	}
	within := func(dir string) bool { return d == dir || strings.HasPrefix(d, dir+"/") }
	if c.credentialsSecret != "" && within(credentialsDir) {
		// The API server refuses two mounts at one path, and no mount point
		// can be made inside the read-only secret volume.
		v.add(field.Invalid(p, d, "must not be or lie inside "+credentialsDir+", where WithCredentialsSecret mounts the key"))
	}
	if within(tokenDir) {
		// A mount at the token's path makes the ServiceAccount admission
		// plugin skip the token: the application would lose its API access.
		v.add(field.Invalid(p, d, "must not be or lie inside "+tokenDir+", where Kubernetes mounts the service account token"))
	}
	// PostgreSQL sockets live one level deeper than the others:
	// <dir>/<connection name>/.s.PGSQL.5432.
	for _, raw := range c.instances {
		name, _, _ := strings.Cut(raw, "?")
		if n := len(d) + 1 + len(name) + len("/.s.PGSQL.5432"); n > maxSocketPath {
			v.add(field.Invalid(p, d, fmt.Sprintf("the socket path %s/%s/.s.PGSQL.5432 would be %d bytes; Unix socket paths are limited to %d", d, name, n, maxSocketPath)))
		}
	}
}

func (v *validator) validateProbes() {
	c := v.c
	check := func(name string, t *ProbeTiming) {
		for _, f := range []struct {
			name string
			val  int32
		}{
			{"InitialDelaySeconds", t.InitialDelaySeconds},
			{"PeriodSeconds", t.PeriodSeconds},
			{"TimeoutSeconds", t.TimeoutSeconds},
			{"FailureThreshold", t.FailureThreshold},
		} {
			if f.val < 0 {
				v.add(field.Invalid(field.NewPath(name).Child(f.name), f.val, "must not be negative (0 keeps the default)"))
			}
		}
	}
	check("WithStartupProbe", &c.startup)
	check("WithLivenessProbe", &c.liveness)
	if c.readiness != nil {
		check("WithReadinessProbe", c.readiness)
	}
}

func (v *validator) validateModes() {
	c := v.c
	switch c.mode {
	case modeLegacy:
		v.needs(field.NewPath("WithLegacySidecar"), true, sinceWait, "the wait command of the legacy sidecar's postStart hook")
	case modeJob:
		p := field.NewPath("ForJob")
		v.needs(p, c.jobTimeout.String(), sinceWait, "the wait command of the Job-mode proxy's postStart hook")
		if c.jobTimeout < 0 || c.jobTimeout%time.Second != 0 {
			v.add(field.Invalid(p, c.jobTimeout.String(), "must be 0 or a positive whole number of seconds"))
		}
		if c.jobTimeout > 0 {
			repo, tag := imageRef(c.image)
			if _, variant, ok := parseVersion(tag); ok && strings.HasSuffix(repo, officialRepo) && variant != "alpine" {
				v.add(field.Invalid(field.NewPath("WithImage"), c.image,
					"a ForJob timeout runs the proxy under /bin/sh, and this image has no shell: use the -alpine variant"))
			}
		}
	}
}

func (v *validator) validateAppEnv() {
	c := v.c
	names := map[string]bool{}
	if c.mode == modeJob {
		names[QuitURLsEnv] = true
	}
	for i, ae := range c.appEnv {
		p := field.NewPath("WithAppEnv").Index(i)
		// Compare with every configured name, parsed or not: an instance
		// that failed to parse is already reported, not "not found".
		found := false
		for _, raw := range c.instances {
			name, _, _ := strings.Cut(raw, "?")
			found = found || name == ae.instance
		}
		if !found {
			v.add(field.NotFound(p.Child("instance"), ae.instance))
		}
		for _, f := range []struct{ field, name string }{{"Host", ae.env.Host}, {"Port", ae.env.Port}, {"Socket", ae.env.Socket}} {
			if f.name == "" {
				continue
			}
			fp := p.Child(f.field)
			for _, msg := range validation.IsEnvVarName(f.name) {
				v.add(field.Invalid(fp, f.name, msg))
			}
			if names[f.name] {
				v.add(field.Duplicate(fp, f.name))
			}
			names[f.name] = true
			if c.socketDir != "" && f.field != "Socket" {
				v.add(field.Invalid(fp, f.name, "with WithUnixSocket there is no TCP listener: use Socket"))
			}
			if c.socketDir == "" && f.field == "Socket" {
				v.add(field.Invalid(fp, f.name, "needs WithUnixSocket"))
			}
		}
	}
}

// proxyResources are the resources the proxy can use. Others (GPUs,
// hugepages, extended resources) have rules of their own in the API server
// and no use in the proxy, so New refuses them rather than build a pod the
// API server rejects.
var proxyResources = []string{string(corev1.ResourceCPU), string(corev1.ResourceEphemeralStorage), string(corev1.ResourceMemory)}

// maxBytes is the largest byte count whose milli-units fit an int64: the
// API server checks "whole bytes" on the milli-value, which wraps beyond it.
var maxBytes = *resource.NewQuantity(math.MaxInt64/1000, resource.DecimalSI)

func (v *validator) validateResources() {
	r := v.c.resources
	p := field.NewPath("WithResources")
	for _, l := range []struct {
		name string
		list corev1.ResourceList
	}{{"Requests", r.Requests}, {"Limits", r.Limits}} {
		for _, name := range sortedKeys(l.list) {
			q := l.list[name]
			fp := p.Child(l.name).Key(string(name))
			switch {
			case !slices.Contains(proxyResources, string(name)):
				v.add(field.NotSupported(fp, string(name), proxyResources))
			case q.Sign() < 0:
				v.add(field.Invalid(fp, q.String(), "must not be negative"))
			case name == corev1.ResourceCPU: // millicores: any fraction is a valid request
			case q.Cmp(maxBytes) > 0:
				v.add(field.Invalid(fp, q.String(), "must be at most "+maxBytes.String()+" bytes"))
			case q.MilliValue()%1000 != 0:
				// The API server stores it, warning that it is invalid.
				v.add(field.Invalid(fp, q.String(), "must be a whole number of bytes"))
			}
		}
	}
	for _, name := range sortedKeys(r.Requests) {
		req := r.Requests[name]
		if lim, ok := r.Limits[name]; ok && req.Cmp(lim) > 0 {
			v.add(field.Invalid(p.Child("Requests").Key(string(name)), req.String(), "must not exceed the limit "+lim.String()))
		}
	}
	for i, claim := range r.Claims {
		// A claim must name one of the pod's resource claims, which New
		// cannot see, and the proxy needs no device.
		v.add(field.Forbidden(p.Child("Claims").Index(i), fmt.Sprintf("the proxy uses no dynamic resource claims (%q)", claim.Name)))
	}
}

// build turns a validated configuration into a Proxy.
func build(c *config, insts []instance) *Proxy {
	p := &Proxy{
		mode:       c.mode,
		name:       c.name,
		image:      c.image,
		pullPolicy: c.pullPolicy,
		command:    []string{binary},
		args:       args(c, insts),
		healthPort: c.healthPort,
		resources:  c.resources.DeepCopy(), // the caller's maps stay the caller's
		startup:    timing(c.startup, ProbeTiming{PeriodSeconds: 1, TimeoutSeconds: 5, FailureThreshold: 60}),
		liveness:   timing(c.liveness, ProbeTiming{PeriodSeconds: 10, TimeoutSeconds: 10, FailureThreshold: 3}),
	}
	if c.readiness != nil {
		r := timing(*c.readiness, ProbeTiming{PeriodSeconds: 10, TimeoutSeconds: 5, FailureThreshold: 3})
		p.readiness = &r
	}
	p.ports = make([]proxyPort, 0, 2+len(insts))
	p.ports = append(p.ports, proxyPort{c.healthPort, "health check", ""})
	if c.usesAdmin() {
		p.ports = append(p.ports, proxyPort{c.adminPort, "admin", ""})
	}
	for _, in := range insts {
		if in.port != 0 {
			p.ports = append(p.ports, proxyPort{in.port, "listener of", in.name})
		}
	}

	if c.mode != modeNative {
		// A regular container starts in parallel with the application: the
		// postStart hook holds the application back until the proxy listens.
		p.hook = waitCommand(c.healthPort, p.startup)
	}
	if c.mode == modeJob {
		p.appEnv = append(p.appEnv, corev1.EnvVar{
			Name:  QuitURLsEnv,
			Value: fmt.Sprintf("http://localhost:%d/quitquitquit", c.adminPort),
		})
		if c.jobTimeout > 0 {
			p.command = append([]string{"/bin/sh", "-c", jobScript, "cloudsql-proxy",
				strconv.FormatInt(int64(c.jobTimeout/time.Second), 10), binary}, p.args...)
			p.args = nil
		}
	}

	if c.socketDir != "" {
		vol := corev1.Volume{Name: c.name + "-sockets", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
		p.volumes = append(p.volumes, vol)
		mount := corev1.VolumeMount{Name: vol.Name, MountPath: c.socketDir}
		p.mounts = append(p.mounts, mount)
		p.appMounts = append(p.appMounts, mount)
	}
	if c.credentialsSecret != "" {
		// Readable by all: without a pod fsGroup (which would re-own the app's volumes
		// too) the kubelet writes the files as root:root, so 0440 would shut out the
		// proxy's own non-root user. Only the proxy container mounts the volume.
		mode := int32(0o444)
		vol := corev1.Volume{Name: c.name + "-credentials", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName:  c.credentialsSecret,
			DefaultMode: &mode,
		}}}
		p.volumes = append(p.volumes, vol)
		p.mounts = append(p.mounts, corev1.VolumeMount{Name: vol.Name, MountPath: credentialsDir, ReadOnly: true})
	}

	for _, ae := range c.appEnv {
		var in instance
		for _, cand := range insts {
			if cand.name == ae.instance {
				in = cand
			}
		}
		if ae.env.Host != "" {
			p.appEnv = append(p.appEnv, corev1.EnvVar{Name: ae.env.Host, Value: c.address})
		}
		if ae.env.Port != "" {
			p.appEnv = append(p.appEnv, corev1.EnvVar{Name: ae.env.Port, Value: strconv.Itoa(int(in.port))})
		}
		if ae.env.Socket != "" {
			p.appEnv = append(p.appEnv, corev1.EnvVar{Name: ae.env.Socket, Value: kubeEscape(c.socketDir + "/" + in.name)})
		}
	}
	return p
}

// waitCommand blocks, as a postStart hook, until the proxy's /startup answers
// 200. The kubelet starts a pod's regular containers in order and does not
// start the next one until the previous one's postStart hook has returned,
// so the containers after the proxy start only once it listens. The exec
// form needs no shell, so it works on the distroless image.
func waitCommand(healthPort int32, startup ProbeTiming) []string {
	return []string{binary, "wait",
		"--http-address=127.0.0.1",
		"--http-port=" + strconv.Itoa(int(healthPort)),
		"--max=" + strconv.FormatInt(startupBudget(startup), 10) + "s",
	}
}

// jobScript runs the proxy given as "$@" after the timeout in $1, stops it
// with SIGTERM when the timeout passes or the shell itself is told to stop,
// and exits with the proxy's own status. Every value arrives as a
// positional parameter, so nothing from the configuration is ever parsed as
// shell. A trapped signal interrupts wait before the proxy has exited, so
// the trap asks for another wait; by then the shell may already have reaped
// the proxy, and a wait that answers 127 keeps the status seen before. (A
// loop on kill -0 instead lost the status about one time in 25, measured.)
const jobScript = `t=$1; shift
"$@" & p=$!
trap 'i=1; kill -TERM "$p" 2>/dev/null' TERM INT
(sleep "$t"; kill -TERM "$p" 2>/dev/null) & w=$!
s=127 i=1
while [ "$i" = 1 ]; do i=; wait "$p"; r=$?; [ "$r" = 127 ] || s=$r; done
kill "$w" 2>/dev/null
exit "$s"`

// kubeEscape protects a value from the kubelet, which expands $(NAME) in
// args and env values and turns $$ into $: doubling every $ makes the
// process see exactly the configured value.
func kubeEscape(s string) string { return strings.ReplaceAll(s, "$", "$$") }

// args renders the proxy's flags in a fixed order, instances last.
func args(c *config, insts []instance) []string {
	a := make([]string, 0, 12+len(insts))
	flag := func(name string, on bool) {
		if on {
			a = append(a, "--"+name)
		}
	}
	value := func(name, v string) {
		if v != "" {
			a = append(a, "--"+name+"="+kubeEscape(v))
		}
	}
	a = append(a, "--structured-logs")
	flag("quiet", c.quiet)
	flag("debug-logs", c.debugLogs)
	a = append(a, "--health-check", "--http-address=0.0.0.0", "--http-port="+strconv.Itoa(int(c.healthPort)))
	flag("prometheus", c.prometheus)
	value("prometheus-namespace", c.promNamespace)
	a = append(a, "--exit-zero-on-sigterm")
	if c.socketDir == "" {
		value("address", c.address)
	} else {
		value("unix-socket", c.socketDir)
	}
	flag("private-ip", c.privateIP)
	flag("psc", c.psc)
	flag("auto-iam-authn", c.autoIAMAuthn)
	if c.credentialsSecret != "" {
		key := c.credentialsKey
		if key == "" {
			key = defaultCredsKey
		}
		value("credentials-file", credentialsDir+"/"+key)
	}
	value("impersonate-service-account", strings.Join(c.impersonate, ","))
	flag("lazy-refresh", c.lazyRefresh)
	if c.maxConns > 0 {
		value("max-connections", strconv.FormatUint(c.maxConns, 10))
	}
	if c.minSigterm > 0 {
		value("min-sigterm-delay", c.minSigterm.String())
	}
	if c.maxSigterm > 0 {
		value("max-sigterm-delay", c.maxSigterm.String())
	}
	flag("quitquitquit", c.quitquitquit || c.mode == modeJob)
	flag("debug", c.debugServer)
	if c.usesAdmin() {
		value("admin-port", strconv.Itoa(int(c.adminPort)))
	}
	t := c.telemetry
	value("telemetry-project", t.Project)
	value("telemetry-prefix", t.Prefix)
	if t.SampleRate > 0 {
		value("telemetry-sample-rate", strconv.Itoa(t.SampleRate))
	}
	flag("disable-metrics", t.DisableMetrics)
	flag("disable-traces", t.DisableTraces)
	value("sqladmin-api-endpoint", c.adminAPIEndpoint)
	value("universe-domain", c.universeDomain)
	value("quota-project", c.quotaProject)
	for _, in := range insts {
		a = append(a, in.arg())
	}
	return a
}

// arg renders an instance with its query parameters in a fixed order.
func (in instance) arg() string {
	var q []string
	if in.port != 0 {
		q = append(q, "port="+strconv.Itoa(int(in.port)))
	}
	for _, b := range []struct {
		key string
		val *bool
	}{{"private-ip", in.privateIP}, {"psc", in.psc}, {"auto-iam-authn", in.autoIAM}} {
		if b.val != nil {
			q = append(q, b.key+"="+strconv.FormatBool(*b.val))
		}
	}
	if len(q) == 0 {
		return in.name
	}
	return in.name + "?" + strings.Join(q, "&")
}

// timing fills the zero fields of set from def.
func timing(set, def ProbeTiming) ProbeTiming {
	pick := func(v, d int32) int32 {
		if v > 0 {
			return v
		}
		return d
	}
	return ProbeTiming{
		InitialDelaySeconds: pick(set.InitialDelaySeconds, def.InitialDelaySeconds),
		PeriodSeconds:       pick(set.PeriodSeconds, def.PeriodSeconds),
		TimeoutSeconds:      pick(set.TimeoutSeconds, def.TimeoutSeconds),
		FailureThreshold:    pick(set.FailureThreshold, def.FailureThreshold),
	}
}

func probe(path string, t ProbeTiming) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path:   path,
			Port:   intstr.FromString(HealthPortName),
			Scheme: corev1.URISchemeHTTP,
		}},
		InitialDelaySeconds: t.InitialDelaySeconds,
		PeriodSeconds:       t.PeriodSeconds,
		TimeoutSeconds:      t.TimeoutSeconds,
		FailureThreshold:    t.FailureThreshold,
		SuccessThreshold:    1,
	}
}

// startupBudget is how many seconds the startup probe lets the proxy take,
// which is also how long the postStart wait hook waits. It is computed in
// int64, since large timings overflow int32 into a negative --max, and
// capped where the proxy's time.Duration flag would overflow.
func startupBudget(p ProbeTiming) int64 {
	return min(int64(p.InitialDelaySeconds)+int64(p.PeriodSeconds)*int64(p.FailureThreshold), math.MaxInt32)
}

// resources copies set, or gives the defaults when it is nil.
func resources(set *corev1.ResourceRequirements) corev1.ResourceRequirements {
	if set != nil {
		return *set.DeepCopy()
	}
	return corev1.ResourceRequirements{Requests: corev1.ResourceList{
		corev1.ResourceCPU:    defaultCPU.DeepCopy(),
		corev1.ResourceMemory: defaultMemory.DeepCopy(),
	}}
}

// Parsed once: parsing them in every New was a seventh of its time.
var (
	defaultCPU    = resource.MustParse("100m")
	defaultMemory = resource.MustParse("128Mi")
)

// securityContext meets Pod Security "restricted" on its own, whatever the
// pod sets.
func securityContext() *corev1.SecurityContext {
	yes, no := true, false
	id := int64(nonRootID)
	return &corev1.SecurityContext{
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		RunAsUser:                &id,
		RunAsGroup:               &id,
		RunAsNonRoot:             &yes,
		ReadOnlyRootFilesystem:   &yes,
		AllowPrivilegeEscalation: &no,
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}
