package cloudsqlproxy

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/podspec/cloudsqlproxy/internal/flagtab"
)

// flagKind says how a flag's value is stored, checked and rendered.
type flagKind int

const (
	// fixed flags carry a value the library always chooses.
	fixed flagKind = iota
	// switchFlag is "--name", stored as "true" when on.
	switchFlag
	// textFlag is "--name=value", rendered when not empty.
	textFlag
	// countFlag is "--name=N", a non-negative integer rendered when above 0.
	countFlag
	// durationFlag is "--name=D" with a unit, non-negative, rendered when
	// above 0.
	durationFlag
	// portFlag is a port number kept in a typed field of config.
	portFlag
)

// proxyFlag is one entry of the flag table: a flag of the proxy, the option
// that sets it, and how it is checked, rendered and read back from an
// existing container. The table is the only place in the library that
// knows a flag: New renders the arguments in its order and gates options on
// its versions. The command offers the flags that have an option under
// names, help and sections of its own (internal/flagtab).
//
// A plain flag (switch, text, count, duration) needs only its entry and an
// option built with setFlag: its value lives in config.flags. Flags whose
// value other settings decide have render and adopt functions of their own.
type proxyFlag struct {
	name   string   // the proxy's flag, without dashes
	option string   // the field path of its option in errors
	kind   flagKind // how the value is stored and checked
	value  string   // a fixed flag's value, if it has one
	values []string // the values the proxy accepts, when it names them
	since  version  // the release that introduced it; zero: every release

	// conflicts names a flag the proxy refuses together with this one, and
	// why; the error names this flag's option.
	conflicts, why string
	// check adds rules of its own for the value ("" when unset).
	// It gets the option's name, to build the field path only for an error.
	check func(p *plan, option string, value string) problems
	// render gives the argument's value for flags that other settings
	// decide, with false for none; nil renders the stored value.
	render func(p *plan) (string, bool)
	// dashed is "--" + name, made once for the renderer.
	dashed string
	// adopt turns the value of an existing container's flag into the
	// option that keeps it; nil stores it as a plain flag.
	adopt func(value string) (Option, error)
}

// flagTable lists every proxy flag that the library renders or reads back,
// in the order New renders them (the instances come last).
var flagTable = []proxyFlag{
	{name: "structured-logs", kind: fixed},
	{name: "quiet", option: "WithQuiet", kind: switchFlag,
		conflicts: "debug-logs"},
	{name: "debug-logs", option: "WithDebugLogs", kind: switchFlag,
		since: version{2, 9, 0}},
	{name: "health-check", kind: fixed},
	// The kubelet probes the pod IP, so the health server binds every
	// address whatever the container had.
	{name: "http-address", kind: fixed, value: "0.0.0.0"},
	{name: "http-port", option: "WithHealthPort", kind: portFlag,
		render: func(p *plan) (string, bool) { return strconv.Itoa(int(p.c.healthPort)), true },
		adopt:  portOption(WithHealthPort)},
	{name: "prometheus", option: "WithPrometheus", kind: switchFlag},
	{name: "prometheus-namespace", option: "WithPrometheus", kind: textFlag,
		check: matches(regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`), "must be a Prometheus metric name prefix ([a-zA-Z_][a-zA-Z0-9_]*)")},
	{name: "exit-zero-on-sigterm", kind: fixed},
	// The proxy's --port is the first instance's port; the library renders
	// it as each instance's ?port=.
	{name: "port", option: "WithPort", kind: portFlag,
		render: func(*plan) (string, bool) { return "", false },
		adopt:  portOption(WithPort)},
	{name: "address", option: "WithListenAddress", kind: textFlag,
		render: func(p *plan) (string, bool) { return p.c.address, p.c.socketDir == "" && p.c.address != "" },
		adopt:  func(v string) (Option, error) { return WithListenAddress(v), nil }},
	{name: "unix-socket", option: "WithUnixSocket", kind: textFlag,
		render: func(p *plan) (string, bool) { return p.c.socketDir, p.c.socketDir != "" },
		adopt:  func(v string) (Option, error) { return WithUnixSocket(v), nil }},
	{name: "private-ip", option: "WithPrivateIP", kind: switchFlag},
	{name: "psc", option: "WithPSC", kind: switchFlag,
		since: sincePSC, conflicts: "private-ip", why: "the proxy accepts one IP type"},
	{name: "auto-ip", option: "WithAutoIP", kind: switchFlag, since: version{2, 2, 0},
		conflicts: "private-ip", render: renderAutoIP},
	{name: "auto-iam-authn", option: "WithAutoIAMAuthn", kind: switchFlag},
	// The key file is where WithCredentialsSecret mounts it; adopting a
	// container's own path needs its volumes, which FromContainer reads.
	{name: "credentials-file", kind: textFlag,
		render: func(p *plan) (string, bool) {
			return credentialsDir + "/" + p.credentialsKey(), p.c.credentialsSecret != ""
		}},
	{name: "impersonate-service-account", option: "WithImpersonation", kind: textFlag,
		render: func(p *plan) (string, bool) { return strings.Join(p.c.impersonate, ","), len(p.c.impersonate) > 0 },
		adopt:  func(v string) (Option, error) { return WithImpersonation(splitList(v)...), nil }},
	{name: "lazy-refresh", option: "WithLazyRefresh", kind: switchFlag,
		since: version{2, 11, 0}},
	{name: "max-connections", option: "WithMaxConnections", kind: countFlag},
	{name: "min-sigterm-delay", option: "WithMinSigtermDelay", kind: durationFlag,
		since: version{2, 12, 0}},
	{name: "max-sigterm-delay", option: "WithMaxSigtermDelay", kind: durationFlag},
	{name: "quitquitquit", option: "WithQuitQuitQuit", kind: switchFlag,
		render: func(p *plan) (string, bool) { return "", p.flagOn("quitquitquit") || p.c.mode == modeJob }},
	{name: "debug", option: "WithDebugServer", kind: switchFlag},
	{name: "admin-port", option: "WithAdminPort", kind: portFlag,
		render: func(p *plan) (string, bool) { return strconv.Itoa(int(p.c.adminPort)), p.usesAdmin() },
		adopt:  portOption(WithAdminPort)},
	{name: "telemetry-project", option: "WithTelemetry.Project", kind: textFlag,
		check: telemetryProject},
	{name: "telemetry-prefix", option: "WithTelemetry.Prefix", kind: textFlag,
		check: printableText},
	{name: "telemetry-sample-rate", option: "WithTelemetry.SampleRate", kind: countFlag},
	{name: "disable-metrics", option: "WithTelemetry.DisableMetrics", kind: switchFlag},
	{name: "disable-traces", option: "WithTelemetry.DisableTraces", kind: switchFlag},
	{name: "sqladmin-api-endpoint", option: "WithSQLAdminAPIEndpoint", kind: textFlag,
		conflicts: "universe-domain", check: httpURL},
	{name: "universe-domain", option: "WithUniverseDomain", kind: textFlag,
		since: version{2, 10, 0}, check: dnsSubdomain},
	{name: "user-agent", option: "WithUserAgent", kind: textFlag,
		check: printableText},
	{name: "quota-project", option: "WithQuotaProject", kind: textFlag,
		check: matches(projectRE, "must be a Google Cloud project ID")},
	// Built-in client metrics (2.27): the proxy exports them unless told
	// otherwise, so only an explicit choice is rendered.
	{name: "enable-builtin-metrics", option: "WithBuiltInMetrics", kind: textFlag,
		since:  sinceBuiltInMetrics,
		render: renderBuiltInMetrics,
		adopt:  adoptBuiltInMetrics},
	{name: "compute-platform", option: "WithComputePlatform", kind: textFlag,
		since: sinceBuiltInMetrics, values: computePlatforms, check: computePlatform,
		adopt: func(v string) (Option, error) { return WithComputePlatform(strings.ToLower(strings.TrimSpace(v))), nil }},
	{name: "application-name", option: "WithApplicationName", kind: textFlag,
		since: sinceBuiltInMetrics, check: metricLabel},
}

// flagIndex finds an entry of flagTable by the proxy's flag name. It is
// filled in init, since the table's own functions read it.
var flagIndex map[string]int

// flagOption sets plain flags of the table: an option such as WithQuiet is
// setFlag("quiet", "true"), nothing more.
type flagOption []flagValue

type flagValue struct{ name, value string }

func (o flagOption) apply(c *config) {
	for _, fv := range o {
		if c.flags == nil {
			c.flags = make([]string, len(flagTable))
		}
		c.flags[flagIndex[fv.name]] = fv.value
	}
}

// setFlag is the option that sets the plain flag name to value ("" unsets
// it; a switch is on with "true").
func setFlag(name, value string) flagOption {
	return flagOption{{name, value}}
}

// and combines plain flags into one option.
func (o flagOption) and(name, value string) flagOption {
	return append(o, flagValue{name, value})
}

func boolValue(on bool) string {
	if on {
		return "true"
	}
	return ""
}

func countValue(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

func durationValue(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func portOption(o func(int32) Option) func(string) (Option, error) {
	return func(v string) (Option, error) {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%q is not a port number", v)
		}
		return o(int32(n)), nil
	}
}

// splitList reads a comma-separated list, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, e := range strings.Split(v, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// adoptFlag turns one flag of an existing proxy container into the option
// that keeps it. The flags the library always sets itself give no option.
func adoptFlag(f *proxyFlag, value string, given bool) (Option, error) {
	if f.adopt != nil {
		return f.adopt(value)
	}
	switch f.kind {
	case fixed:
		return nil, nil
	case switchFlag:
		if !given {
			return setFlag(f.name, "true"), nil
		}
		on, err := strconv.ParseBool(value)
		if err != nil {
			return nil, fmt.Errorf("%q is not true or false", value)
		}
		return setFlag(f.name, boolValue(on)), nil
	case countFlag:
		if _, err := strconv.ParseInt(value, 10, 64); err != nil {
			return nil, fmt.Errorf("%q is not an integer", value)
		}
	case durationFlag:
		d, err := time.ParseDuration(value)
		if err != nil {
			return nil, fmt.Errorf("%q is not a duration such as 30s", value)
		}
		value = durationValue(d)
	}
	return setFlag(f.name, value), nil
}

// flagOn reports whether a plain switch is on.
func (p *plan) flagOn(name string) bool { return p.flag(name) == "true" }

// flag is a plain flag's stored value, "" when unset.
func (p *plan) flag(name string) string {
	if p.c.flags == nil {
		return ""
	}
	return p.c.flags[flagIndex[name]]
}

// flagValue is the value an entry renders, and whether it renders at all.
func (p *plan) flagValue(f *proxyFlag) (string, bool) {
	if f.render != nil {
		return f.render(p)
	}
	v := ""
	if p.c.flags != nil {
		v = p.c.flags[flagIndex[f.name]]
	}
	switch f.kind {
	case fixed:
		return "", true
	}
	if v == "" {
		return "", false
	}
	switch f.kind {
	case switchFlag:
		return "", v == "true"
	case countFlag:
		n, err := strconv.ParseUint(v, 10, 64)
		return v, err == nil && n > 0
	case durationFlag:
		d, err := time.ParseDuration(v)
		return v, err == nil && d > 0
	}
	return v, v != ""
}

// validateFlagValues checks every plain flag's value on its own.
func validateFlagValues(p *plan) problems {
	var errs problems
	for i := range flagTable {
		f := &flagTable[i]
		v := p.flag(f.name)
		if f.render != nil {
			continue
		}
		if f.check != nil {
			errs = append(errs, f.check(p, f.option, v)...)
		}
		if v == "" {
			continue
		}
		switch f.kind {
		case countFlag:
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && n < 0 {
				errs = append(errs, invalid(optionPath(f.option), n, ReasonOutOfRange, "must not be negative"))
			}
		case durationFlag:
			if d, err := time.ParseDuration(v); err == nil && d < 0 {
				errs = append(errs, invalid(optionPath(f.option), v, ReasonOutOfRange, "must not be negative"))
			}
		}
	}
	return errs
}

// validateFlagConflicts finds the pairs of flags the proxy refuses together.
func validateFlagConflicts(p *plan) problems {
	var errs problems
	for i := range flagTable {
		f := &flagTable[i]
		if f.conflicts == "" {
			continue
		}
		v, on := p.flagValue(f)
		_, other := p.flagValue(&flagTable[flagIndex[f.conflicts]])
		if !on || !other {
			continue
		}
		var bad any = v
		if f.kind == switchFlag {
			bad = true
		}
		with := optionPath(flagTable[flagIndex[f.conflicts]].option)
		errs = append(errs, invalid(optionPath(f.option), bad, ReasonConflict, f.why).involving(with))
	}
	return errs
}

// validateFlagVersions rejects every rendered flag that the image's proxy
// predates.
func validateFlagVersions(p *plan) problems {
	var errs problems
	for i := range flagTable {
		f := &flagTable[i]
		if f.since == (version{}) {
			continue
		}
		v, on := p.flagValue(f)
		if !on {
			continue
		}
		var bad any = v
		if f.kind == switchFlag {
			bad = true
		}
		if p.verKnown && p.ver.less(f.since) {
			errs = append(errs, p.needs(optionPath(f.option), bad, f.since, "--"+f.name)...)
		}
	}
	return errs
}

// renderFlags appends the proxy's arguments in the table's order.
func renderFlags(a []string, p *plan) []string {
	for i := range flagTable {
		f := &flagTable[i]
		v, on := p.flagValue(f)
		switch {
		case !on:
		case v == "" || f.kind == switchFlag:
			a = append(a, f.dashed)
		default:
			a = append(a, f.dashed+"="+kubeEscape(v))
		}
	}
	return a
}

// optionPath turns "WithTelemetry.Prefix" into a field path.
func optionPath(option string) *field.Path {
	root, rest, _ := strings.Cut(option, ".")
	if rest == "" {
		return field.NewPath(root)
	}
	return field.NewPath(root, strings.Split(rest, ".")...)
}

func matches(re *regexp.Regexp, msg string) func(*plan, string, string) problems {
	return func(_ *plan, option string, v string) problems {
		if v == "" || re.MatchString(v) {
			return nil
		}
		return problems{invalid(optionPath(option), v, ReasonInvalid, msg)}
	}
}

// telemetryProject also requires the project once any other telemetry
// setting is given, since the proxy exports nothing without it.
func telemetryProject(p *plan, option string, v string) problems {
	if v == "" {
		for _, other := range []string{"telemetry-prefix", "telemetry-sample-rate", "disable-metrics", "disable-traces"} {
			if p.flag(other) != "" {
				op := optionPath(option)
				return problems{problemOf(op, field.Required(op, "the other telemetry settings have no effect without it"), ReasonRequired)}
			}
		}
		return nil
	}
	return matches(projectRE, "must be a Google Cloud project ID")(p, option, v)
}

func printableText(_ *plan, option string, v string) problems {
	if v == "" || printable(v) {
		return nil
	}
	return problems{invalid(optionPath(option), v, ReasonInvalid, "must be printable ASCII without spaces")}
}

func httpURL(_ *plan, option string, v string) problems {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || !printable(v) {
		return problems{invalid(optionPath(option), v, ReasonInvalid, "must be an absolute http(s) URL")}
	}
	return nil
}

func dnsSubdomain(_ *plan, option string, v string) problems {
	if v == "" {
		return nil
	}
	return invalidAll(optionPath(option), v, ReasonInvalid, validation.IsDNS1123Subdomain(v))
}

// renderAutoIP renders --auto-ip when asked for, or for an adopted v1
// proxy's IP preference while nothing else chooses the IP type.
func renderAutoIP(p *plan) (string, bool) {
	if p.flagOn("auto-ip") {
		return "", true
	}
	if !p.c.v1AutoIP || p.flagOn("private-ip") || p.flagOn("psc") {
		return "", false
	}
	for _, in := range p.insts {
		if in.privateIP != nil || in.psc != nil {
			return "", false
		}
	}
	return "", true
}

// computePlatforms are the values the proxy accepts for --compute-platform
// (cloudsqlconn's ComputePlatforms, the same list in proxy 2.27 and 2.28).
var computePlatforms = []string{"gce", "gke", "cloud_run", "app_engine", "cloud_functions", "ai_studio"}

func computePlatform(p *plan, option string, v string) problems {
	if v == "" {
		return nil
	}
	if !slices.Contains(computePlatforms, v) {
		op := optionPath(option)
		return problems{problemOf(op, field.NotSupported(op, v, computePlatforms), ReasonNotSupported)}
	}
	return metricsOff(p, option, v)
}

// maxLabelValue is Cloud Monitoring's limit on a label value.
const maxLabelValue = 1024

func metricLabel(p *plan, option string, v string) problems {
	if v == "" {
		return nil
	}
	if len(v) > maxLabelValue {
		op := optionPath(option)
		return problems{problemOf(op, field.TooLong(op, v, maxLabelValue), ReasonOutOfRange)}
	}
	if strings.ContainsFunc(v, unicode.IsControl) || !utf8.ValidString(v) {
		return problems{invalid(optionPath(option), v, ReasonInvalid, "must be UTF-8 text without control characters")}
	}
	return metricsOff(p, option, v)
}

// metricsOff refuses a label of the built-in metrics when they are turned
// off: the proxy would accept it and silently do nothing with it.
func metricsOff(p *plan, option string, v string) problems {
	if p.flag("enable-builtin-metrics") == "false" {
		return problems{invalid(optionPath(option), v, ReasonConflict, "labels the built-in metrics, which it turns off").
			involving(field.NewPath("WithBuiltInMetrics"))}
	}
	return nil
}

// renderBuiltInMetrics passes an explicit choice on. Off needs nothing on a
// proxy older than 2.27, which exports no built-in metrics, so a fleet-wide
// WithBuiltInMetrics(false) also fits pods that pin an older image.
func renderBuiltInMetrics(p *plan) (string, bool) {
	v := p.flag("enable-builtin-metrics")
	if v == "false" && p.verKnown && p.ver.less(sinceBuiltInMetrics) {
		return "", false
	}
	return v, v != ""
}

func adoptBuiltInMetrics(v string) (Option, error) {
	on, err := strconv.ParseBool(v)
	if err != nil {
		return nil, fmt.Errorf("%q is not true or false", v)
	}
	return WithBuiltInMetrics(on), nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

func init() {
	flagIndex = make(map[string]int, len(flagTable))
	for i := range flagTable {
		flagIndex[flagTable[i].name] = i
		f := &flagTable[i]
		f.dashed = "--" + f.name
		if f.value != "" {
			f.dashed += "=" + f.value
		}
	}
	kinds := map[flagKind]flagtab.Kind{switchFlag: flagtab.Switch, textFlag: flagtab.Text, countFlag: flagtab.Count,
		durationFlag: flagtab.Duration, portFlag: flagtab.Port}
	for i := range flagTable {
		f := &flagTable[i]
		if f.option == "" {
			continue
		}
		flagtab.Flags = append(flagtab.Flags, flagtab.Flag{Proxy: f.name, Option: optionPath(f.option), Kind: kinds[f.kind], Values: slices.Clone(f.values)})
	}
	flagtab.Option = func(name, value string) (any, error) {
		i, ok := flagIndex[name]
		if !ok || flagTable[i].option == "" {
			return nil, fmt.Errorf("no option sets --%s", name)
		}
		return adoptFlag(&flagTable[i], value, true)
	}
}
