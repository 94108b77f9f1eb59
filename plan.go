package cloudsqlproxy

import (
	"time"

	corev1 "k8s.io/api/core/v1"
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

// config is what the options write, starting from defaultConfig.
type config struct {
	instances []string
	port      int32
	portSet   bool
	// enginePorts are the instances an adopted proxy let take their port
	// from their database engine: New needs WithPort (or their ?port=) for
	// them, since it always writes a port.
	enginePorts []string
	// v1AutoIP is a v1 proxy's IP preference (public, else private), read
	// as --auto-ip unless an IP type is chosen some other way: unlike a v2
	// container's own --auto-ip, it yields to WithPrivateIP and WithPSC.
	v1AutoIP          bool
	healthPort        int32
	adminPort         int32
	name              string
	image             string // "" until resolve: the default depends on the mode
	version           string
	pullPolicy        corev1.PullPolicy
	resources         *corev1.ResourceRequirements
	address           string
	socketDir         string
	credentialsSecret string
	credentialsKey    string
	impersonate       []string
	// flags holds the plain flags of flagTable by index; nil until an
	// option sets one.
	flags      []string
	startup    ProbeTiming
	liveness   ProbeTiming
	readiness  *ProbeTiming
	appEnv     []appEnvFor
	mode       mode
	jobTimeout time.Duration
	// adopted is the container FromContainer read, which Attach may
	// replace although the library did not build it.
	adopted *corev1.Container
	// adoptFacts are what reading the adopted container learnt.
	adoptFacts *adoptFacts
}

// defaultConfig is every default of New in one place; each is documented
// on the option that changes it.
// apply applies opts in order; a nil Option is skipped.
func (c *config) apply(opts []Option) {
	for _, o := range opts {
		if o != nil {
			o.apply(c)
		}
	}
}

func defaultConfig(instance string) config {
	return config{
		instances:  []string{instance},
		port:       DefaultPort,
		healthPort: DefaultHealthPort,
		adminPort:  DefaultAdminPort,
		name:       DefaultName,
		pullPolicy: corev1.PullIfNotPresent,
		address:    "127.0.0.1",
	}
}

// Probe defaults, in the ranges upstream recommends; a zero field of a
// ProbeTiming option keeps these.
var (
	defaultStartup   = ProbeTiming{PeriodSeconds: 1, TimeoutSeconds: 5, FailureThreshold: 60}
	defaultLiveness  = ProbeTiming{PeriodSeconds: 10, TimeoutSeconds: 10, FailureThreshold: 3}
	defaultReadiness = ProbeTiming{PeriodSeconds: 10, TimeoutSeconds: 5, FailureThreshold: 3}
)

// plan is a configuration resolved once: the image and its version, every
// instance parsed with its port. Validators and the renderer read it and
// never change it.
type plan struct {
	c        *config
	image    string
	ver      version // the proxy release, when verKnown
	verKnown bool
	verErr   bool       // WithProxyVersion could not be read
	tagged   bool       // the image's tag is a proxy version
	variant  string     // of the tag, such as "alpine"
	insts    []instance // every configured instance, in order
}

// resolve fills in what follows from the options: the default image for
// the mode, the proxy version (WithProxyVersion, else the image's tag) and
// the instances' ports, each one after the previous.
func resolve(c *config) plan {
	p := plan{c: c, image: c.image}
	if p.image == "" {
		p.image = DefaultImage
		if c.mode == modeJob && c.jobTimeout > 0 {
			p.image += "-alpine"
		}
	}
	_, tag := imageRef(p.image)
	_, p.variant, p.tagged = parseVersion(tag)
	if c.version != "" {
		p.ver, _, p.verKnown = parseVersion(c.version)
		p.verErr = !p.verKnown
	} else {
		p.ver, _, p.verKnown = parseVersion(tag)
	}
	p.insts = make([]instance, len(c.instances))
	next := c.port
	for i, raw := range c.instances {
		in := parseInstance(i, raw)
		if len(in.errs) == 0 && c.socketDir == "" {
			if in.port == 0 {
				in.port = next
			}
			next = in.port + 1
		}
		p.insts[i] = in
	}
	return p
}

func (p *plan) usesAdmin() bool {
	return p.flagOn("quitquitquit") || p.flagOn("debug") || p.c.mode == modeJob
}

func (p *plan) credentialsKey() string {
	if p.c.credentialsKey == "" {
		return defaultCredsKey
	}
	return p.c.credentialsKey
}
