package cloudsqlproxy

import (
	"fmt"
	"math"
	"net"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validate runs the checks of a plan, one concern each, in the order New
// reports their errors. Each reads the plan only. The version check's
// errors make New's error match ErrUnsupportedVersion as well. (Direct
// calls, not a slice of functions, let the plan stay on New's stack.)
func validate(p *plan) (errs problems, version bool) {
	errs = append(errs, validateImage(p)...)
	errs = append(errs, validateInstances(p)...)
	errs = append(errs, validatePorts(p)...)
	errs = append(errs, validateNames(p)...)
	errs = append(errs, validateFlagValues(p)...)
	errs = append(errs, validateProbes(p)...)
	errs = append(errs, validateModes(p)...)
	errs = append(errs, validateAppEnv(p)...)
	errs = append(errs, validateFlagConflicts(p)...)
	v := validateVersions(p)
	errs = append(errs, v...)
	errs = append(errs, validateResources(p)...)
	return errs, len(v) > 0
}

// validateVersions holds every option to the proxy release of the image.
func validateVersions(p *plan) problems {
	if !p.verKnown {
		return nil
	}
	var errs problems
	if p.ver.less(minVersion) {
		pr := invalid(field.NewPath("WithImage"), p.image, ReasonNeedsVersion,
			fmt.Sprintf("proxy %s is too old: the library needs %s or newer (--exit-zero-on-sigterm)", p.ver, minVersion))
		pr.Version = minVersion.String()
		errs = append(errs, pr)
	}
	for i, in := range p.insts {
		if in.dns {
			errs = append(errs, p.needs(instancePath(i), in.raw, sinceDNSName, "an instance given by DNS name")...)
		}
		if in.psc != nil {
			errs = append(errs, p.needs(instancePath(i).Key("psc"), fmt.Sprint(*in.psc), sincePSC, "the psc parameter")...)
		}
	}
	errs = append(errs, validateFlagVersions(p)...)
	switch p.c.mode {
	case modeLegacy:
		errs = append(errs, p.needs(field.NewPath("WithLegacySidecar"), true, sinceWait, "the wait command of the legacy sidecar's postStart hook")...)
	case modeJob:
		errs = append(errs, p.needs(field.NewPath("ForJob"), p.c.jobTimeout.String(), sinceWait, "the wait command of the Job-mode proxy's postStart hook")...)
	}
	return errs
}

// needs rejects an option the image's proxy predates.
func (p *plan) needs(path *field.Path, value any, since version, what string) problems {
	if !p.verKnown || !p.ver.less(since) {
		return nil
	}
	// The way past is a newer image: name the option that set the version.
	from := field.NewPath("WithImage")
	if p.c.version != "" {
		from = field.NewPath("WithProxyVersion")
	}
	pr := invalid(path, value, ReasonNeedsVersion, fmt.Sprintf("%s needs proxy %s or newer; the image is %s", what, since, p.ver)).involving(from)
	pr.Version = since.String()
	return problems{pr}
}

func validateImage(p *plan) problems {
	var errs problems
	c := p.c
	if strings.TrimSpace(c.image) != c.image || strings.ContainsAny(c.image, " \t\r\n") {
		errs = append(errs, invalid(field.NewPath("WithImage"), c.image, ReasonInvalid, "must not contain white space"))
	}
	if p.verErr {
		errs = append(errs, invalid(field.NewPath("WithProxyVersion"), c.version, ReasonInvalid, "must be a version such as 2.25.3"))
	}
	// A stated version that the image's own tag contradicts would gate the
	// options by a proxy the image does not run.
	if _, tag := imageRef(p.image); p.verKnown && p.tagged && c.version != "" {
		if tv, _, _ := parseVersion(tag); tv != p.ver {
			errs = append(errs, invalid(field.NewPath("WithProxyVersion"), c.version, ReasonConflict,
				fmt.Sprintf("the image's tag says %s; state a version only for an image whose tag does not carry one", tv)).involving(field.NewPath("WithImage")))
		}
	}
	return errs
}

// validateInstances reports each instance's syntax errors, then how it
// combines with the proxy-wide settings and the other instances.
func validateInstances(p *plan) problems {
	var errs problems
	c := p.c
	seen := make(map[string]bool, len(p.insts))
	for i, in := range p.insts {
		if len(in.errs) > 0 {
			errs = append(errs, in.errs...)
			continue
		}
		ip := func() *field.Path { return instancePath(i) }
		if in.queryPort && c.socketDir != "" {
			errs = append(errs, invalid(ip().Key("port"), fmt.Sprint(in.port), ReasonConflict, "").involving(unixSocketPath))
		}
		if in.psc != nil && *in.psc && p.flagOn("private-ip") {
			errs = append(errs, invalid(ip().Key("psc"), "true", ReasonConflict, "").involving(field.NewPath("WithPrivateIP")))
		}
		if in.privateIP != nil && *in.privateIP && p.flagOn("psc") {
			errs = append(errs, invalid(ip().Key("private-ip"), "true", ReasonConflict, "").involving(field.NewPath("WithPSC")))
		}
		if in.privateIP != nil && *in.privateIP && p.flagOn("auto-ip") {
			// The proxy refuses it: "cannot use --auto-ip with private-ip".
			errs = append(errs, invalid(ip().Key("private-ip"), "true", ReasonConflict, "").involving(field.NewPath("WithAutoIP")))
		}
		key := instanceKey(in.name) // one DNS name with and without its trailing dot
		if seen[key] {
			errs = append(errs, problemOf(ip(), field.Duplicate(ip(), in.name), ReasonDuplicate))
		}
		seen[key] = true
	}
	return errs
}

func validPort(n int32) bool { return n >= 1 && n <= 65535 }

// validateEnginePorts asks for the port of each adopted instance that took
// its port from its database engine and still has none written: the
// library would otherwise give it WithPort's default, right only for
// PostgreSQL.
func validateEnginePorts(p *plan) problems {
	if p.c.portSet || p.c.socketDir != "" {
		return nil
	}
	var errs problems
	for _, in := range p.insts {
		if !in.queryPort && slices.Contains(p.c.enginePorts, in.name) {
			errs = append(errs, &Problem{Field: field.NewPath("WithPort"), Type: field.ErrorTypeRequired, Reason: ReasonRequired,
				Detail: fmt.Sprintf("the adopted proxy took the port of %s from its database engine (5432 PostgreSQL, 3306 MySQL, 1433 SQL Server): give the port the application connects to, or the instance's ?port=", in.name)})
		}
	}
	return errs
}

func validatePorts(p *plan) problems {
	var errs problems
	c := p.c
	if first := p.insts[0]; c.portSet && first.queryPort && c.socketDir == "" && c.port != first.port {
		errs = append(errs, invalid(field.NewPath("WithPort"), c.port, ReasonConflict, fmt.Sprintf("conflicts with the instance's ?port=%d", first.port)))
	}
	if !validPort(c.port) {
		errs = append(errs, invalid(field.NewPath("WithPort"), c.port, ReasonOutOfRange, "must be between 1 and 65535"))
	}
	errs = append(errs, validateEnginePorts(p)...)
	if c.portSet && c.socketDir != "" {
		errs = append(errs, invalid(field.NewPath("WithPort"), c.port, ReasonConflict, "").involving(unixSocketPath))
	}
	if !validPort(c.healthPort) {
		errs = append(errs, invalid(field.NewPath("WithHealthPort"), c.healthPort, ReasonOutOfRange, "must be between 1 and 65535"))
	}
	if !validPort(c.adminPort) {
		errs = append(errs, invalid(field.NewPath("WithAdminPort"), c.adminPort, ReasonOutOfRange, "must be between 1 and 65535"))
	}
	// An option's port names it as data, so that its caller's name for it
	// can stand in the message.
	type user struct {
		what   string
		option *field.Path
	}
	port := func(path *field.Path, n int32, u user) *Problem {
		return invalid(path, n, ReasonPortInUse, "is also the port of "+u.what).involving(u.option)
	}
	used := map[int32]user{c.healthPort: {"the health checks", field.NewPath("WithHealthPort")}}
	if p.usesAdmin() {
		if prev, dup := used[c.adminPort]; dup {
			errs = append(errs, port(field.NewPath("WithAdminPort"), c.adminPort, prev))
		}
		used[c.adminPort] = user{"the admin server", field.NewPath("WithAdminPort")}
	}
	for i, in := range p.insts {
		if in.port == 0 || len(in.errs) > 0 || c.socketDir != "" {
			continue
		}
		if !validPort(in.port) {
			if !validPort(c.port) {
				continue // reported once, at WithPort
			}
			errs = append(errs, invalid(instancePath(i).Key("port"), in.port, ReasonOutOfRange, "must be between 1 and 65535: later instances count up from the first one's port").involving(field.NewPath("WithPort")))
			continue
		}
		if prev, dup := used[in.port]; dup {
			errs = append(errs, port(instancePath(i).Key("port"), in.port, prev))
			continue
		}
		used[in.port] = user{what: "instance " + in.name}
	}
	return errs
}

// Paths of the options that other options' problems involve.
var (
	unixSocketPath        = field.NewPath("WithUnixSocket")
	credentialsSecretPath = field.NewPath("WithCredentialsSecret")
)

var (
	projectRE = regexp.MustCompile(`^(?:[a-z0-9][a-z0-9.-]*\.[a-z]{2,}:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$`)
	// A service account email, as --impersonate-service-account takes them.
	emailRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._+-]*@[a-z0-9][a-z0-9.-]*\.[a-z]{2,}$`)
)

// validateNames checks the names and paths the proxy and its volumes use.
func validateNames(p *plan) problems {
	var errs problems
	c := p.c
	// The default name is a valid label; its regexp check was a tenth of New.
	if c.name != DefaultName {
		errs = append(errs, invalidAll(field.NewPath("WithName"), c.name, ReasonInvalid, validation.IsDNS1123Label(c.name))...)
	}
	// The volume names derive from the container name and must stay labels;
	// only the volumes the proxy has count, so that a name that fits them
	// all is not refused for a volume it never gets.
	suffix := ""
	if c.socketDir != "" {
		suffix = socketsVolumeSuffix
	}
	if c.credentialsSecret != "" && len(credentialsVolumeSuffix) > len(suffix) {
		suffix = credentialsVolumeSuffix
	}
	if suffix != "" && len(c.name)+len(suffix) > validation.DNS1123LabelMaxLength {
		errs = append(errs, problemOf(field.NewPath("WithName"), field.TooLong(field.NewPath("WithName"), c.name, validation.DNS1123LabelMaxLength-len(suffix)), ReasonOutOfRange))
	}
	if c.address != "127.0.0.1" {
		ap := field.NewPath("WithListenAddress")
		if c.socketDir != "" {
			errs = append(errs, invalid(ap, c.address, ReasonConflict, "").involving(unixSocketPath))
		} else if net.ParseIP(c.address) == nil {
			errs = append(errs, invalid(ap, c.address, ReasonInvalid, "must be an IP address (the proxy rejects host names such as localhost)"))
		}
	}
	if c.socketDir != "" {
		errs = append(errs, validateSocketDir(p)...)
	}
	switch c.pullPolicy {
	case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		pp := field.NewPath("WithImagePullPolicy")
		errs = append(errs, problemOf(pp, field.NotSupported(pp, c.pullPolicy,
			[]string{string(corev1.PullAlways), string(corev1.PullIfNotPresent), string(corev1.PullNever)}), ReasonNotSupported))
	}
	if c.credentialsSecret != "" {
		errs = append(errs, invalidAll(credentialsSecretPath, c.credentialsSecret, ReasonInvalid, validation.IsDNS1123Subdomain(c.credentialsSecret))...)
	}
	if c.credentialsKey != "" {
		if c.credentialsSecret == "" {
			errs = append(errs, invalid(field.NewPath("WithCredentialsSecretKey"), c.credentialsKey, ReasonNeeds, "").involving(credentialsSecretPath))
		}
		errs = append(errs, invalidAll(field.NewPath("WithCredentialsSecretKey"), c.credentialsKey, ReasonInvalid, validation.IsConfigMapKey(c.credentialsKey))...)
	}
	if c.impersonate != nil && len(c.impersonate) == 0 {
		ip := field.NewPath("WithImpersonation")
		errs = append(errs, problemOf(ip, field.Required(ip, "at least one service account email"), ReasonRequired))
	}
	for i, e := range c.impersonate {
		if !emailRE.MatchString(e) {
			errs = append(errs, invalid(field.NewPath("WithImpersonation").Index(i), e, ReasonInvalid, "must be a service account email"))
		}
	}
	return errs
}

func validateSocketDir(p *plan) problems {
	c := p.c
	sp := unixSocketPath
	d := c.socketDir
	if !path.IsAbs(d) || path.Clean(d) != d || d == "/" || !printable(d) || strings.Contains(d, ":") {
		return problems{invalid(sp, d, ReasonInvalid, "must be a clean absolute directory path other than /, of printable characters without ':'")}
	}
	var errs problems
	within := func(dir string) bool { return d == dir || strings.HasPrefix(d, dir+"/") }
	if c.credentialsSecret != "" && within(credentialsDir) {
		// The API server refuses two mounts at one path, and no mount point
		// can be made inside the read-only secret volume.
		errs = append(errs, invalid(sp, d, ReasonConflict, "must not be or lie inside "+credentialsDir+", where the key file is mounted").involving(credentialsSecretPath))
	}
	if within(tokenDir) {
		// A mount at the token's path makes the ServiceAccount admission
		// plugin skip the token: the application would lose its API access.
		errs = append(errs, invalid(sp, d, ReasonInvalid, "must not be or lie inside "+tokenDir+", where Kubernetes mounts the service account token"))
	}
	// PostgreSQL sockets live one level deeper than the others:
	// <dir>/<connection name>/.s.PGSQL.5432.
	for _, in := range p.insts {
		if n := len(d) + 1 + len(in.name) + len("/.s.PGSQL.5432"); n > maxSocketPath {
			errs = append(errs, invalid(sp, d, ReasonOutOfRange, fmt.Sprintf("the socket path %s/%s/.s.PGSQL.5432 would be %d bytes; Unix socket paths are limited to %d", d, in.name, n, maxSocketPath)))
		}
	}
	return errs
}

func validateProbes(p *plan) problems {
	var errs problems
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
				errs = append(errs, invalid(field.NewPath(name).Child(f.name), f.val, ReasonOutOfRange, "must not be negative (0 keeps the default)"))
			}
		}
	}
	check("WithStartupProbe", &p.c.startup)
	check("WithLivenessProbe", &p.c.liveness)
	if p.c.readiness != nil {
		check("WithReadinessProbe", p.c.readiness)
	}
	return errs
}

func validateModes(p *plan) problems {
	c := p.c
	if c.mode != modeJob {
		return nil
	}
	var errs problems
	if c.jobTimeout < 0 || c.jobTimeout%time.Second != 0 {
		errs = append(errs, invalid(field.NewPath("ForJob"), c.jobTimeout.String(), ReasonOutOfRange, "must be 0 or a positive whole number of seconds"))
	}
	if c.jobTimeout > 0 {
		repo, _ := imageRef(p.image)
		if p.tagged && strings.HasSuffix(repo, officialRepo) && p.variant != "alpine" {
			errs = append(errs, invalid(field.NewPath("WithImage"), p.image, ReasonConflict,
				"a timeout runs the proxy under /bin/sh, and this image has no shell: use its -alpine variant").involving(field.NewPath("ForJob")))
		}
	}
	return errs
}

func validateAppEnv(p *plan) problems {
	var errs problems
	c := p.c
	names := map[string]bool{}
	if c.mode == modeJob {
		names[QuitURLsEnv] = true
	}
	for i, ae := range c.appEnv {
		ep := field.NewPath("WithAppEnv").Index(i)
		// Compare with every configured name, parsed or not: an instance
		// that failed to parse is already reported, not "not found".
		if !slices.ContainsFunc(p.insts, func(in instance) bool { return in.name == ae.instance }) {
			errs = append(errs, problemOf(ep.Child("instance"), field.NotFound(ep.Child("instance"), ae.instance), ReasonNotFound))
		}
		for _, f := range []struct{ field, name string }{{"Host", ae.env.Host}, {"Port", ae.env.Port}, {"Socket", ae.env.Socket}} {
			if f.name == "" {
				continue
			}
			fp := ep.Child(f.field)
			errs = append(errs, invalidAll(fp, f.name, ReasonInvalid, validation.IsEnvVarName(f.name))...)
			if names[f.name] {
				errs = append(errs, problemOf(fp, field.Duplicate(fp, f.name), ReasonDuplicate))
			}
			names[f.name] = true
			if c.socketDir != "" && f.field != "Socket" {
				errs = append(errs, invalid(fp, f.name, ReasonConflict, "there is no TCP listener: name the variable of the socket instead").involving(unixSocketPath))
			}
			if c.socketDir == "" && f.field == "Socket" {
				errs = append(errs, invalid(fp, f.name, ReasonNeeds, "").involving(unixSocketPath))
			}
		}
	}
	return errs
}

// proxyResources are the resources the proxy can use. Others (GPUs,
// hugepages, extended resources) have rules of their own in the API server
// and no use in the proxy, so New refuses them rather than build a pod the
// API server rejects.
var proxyResources = []string{string(corev1.ResourceCPU), string(corev1.ResourceEphemeralStorage), string(corev1.ResourceMemory)}

// maxBytes is the largest byte count whose milli-units fit an int64: the
// API server checks "whole bytes" on the milli-value, which wraps beyond it.
var maxBytes = *resource.NewQuantity(math.MaxInt64/1000, resource.DecimalSI)

func validateResources(p *plan) problems {
	r := p.c.resources
	if r == nil {
		return nil
	}
	var errs problems
	rp := field.NewPath("WithResources")
	for _, l := range []struct {
		name string
		list corev1.ResourceList
	}{{"Requests", r.Requests}, {"Limits", r.Limits}} {
		for _, name := range sortedKeys(l.list) {
			q := l.list[name]
			fp := rp.Child(l.name).Key(string(name))
			switch {
			case !slices.Contains(proxyResources, string(name)):
				errs = append(errs, problemOf(fp, field.NotSupported(fp, string(name), proxyResources), ReasonNotSupported))
			case q.Sign() < 0:
				errs = append(errs, invalid(fp, q.String(), ReasonOutOfRange, "must not be negative"))
			case name == corev1.ResourceCPU: // millicores: any fraction is a valid request
			case q.Cmp(maxBytes) > 0:
				errs = append(errs, invalid(fp, q.String(), ReasonOutOfRange, "must be at most "+maxBytes.String()+" bytes"))
			case q.MilliValue()%1000 != 0:
				// The API server stores it, warning that it is invalid.
				errs = append(errs, invalid(fp, q.String(), ReasonInvalid, "must be a whole number of bytes"))
			}
		}
	}
	for _, name := range sortedKeys(r.Requests) {
		req := r.Requests[name]
		if lim, ok := r.Limits[name]; ok && req.Cmp(lim) > 0 {
			errs = append(errs, invalid(rp.Child("Requests").Key(string(name)), req.String(), ReasonOutOfRange, "must not exceed the limit "+lim.String()))
		}
	}
	for i, claim := range r.Claims {
		// A claim must name one of the pod's resource claims, which New
		// cannot see, and the proxy needs no device.
		cp := rp.Child("Claims").Index(i)
		errs = append(errs, problemOf(cp, field.Forbidden(cp, fmt.Sprintf("the proxy uses no dynamic resource claims (%q)", claim.Name)), ReasonNotSupported))
	}
	return errs
}

func sortedKeys[K ~string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
