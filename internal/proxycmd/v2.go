package proxycmd

import (
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// v2Flag is one flag of the proxy v2 root command.
type v2Flag struct {
	name  string
	short byte // the one-letter shorthand, 0 when there is none
	value bool // takes a value (string, int, uint64 or duration); else a boolean
}

// Release is the proxy release whose flags v2Flags lists: the library's
// DefaultVersion (a test of the root package holds them equal, and
// bumpproxy moves both).
const Release = "2.28.0"

// v2Flags are the flags of the `cloud-sql-proxy` root command as NewCommand
// registers them in cmd/root.go of
// github.com/GoogleCloudPlatform/cloud-sql-proxy/v2 at Release (localFlags
// and globalFlags, hidden ones included; the wait and shutdown subcommands
// have their own). Every 2.x release registers a subset of them. The reader
// has to know which flags take a value: pflag reads `--port 5432` as a flag
// and its value but `--private-ip true` as a flag and an instance named
// "true".
var v2Flags = []v2Flag{
	{name: "address", short: 'a', value: true},
	{name: "admin-port", value: true},
	{name: "application-name", value: true},
	{name: "auto-iam-authn", short: 'i'},
	{name: "auto-ip"},
	{name: "compute-platform", value: true},
	{name: "config-file", value: true},
	{name: "connect-tunnel"},
	{name: "credentials-file", short: 'c', value: true},
	{name: "debug"},
	{name: "debug-logs"},
	{name: "disable-metrics"},
	{name: "disable-traces"},
	{name: "enable-builtin-metrics"},
	{name: "exit-zero-on-sigterm"},
	{name: "fuse", value: true},
	{name: "fuse-tmp-dir", value: true},
	{name: "gcloud-auth", short: 'g'},
	{name: "health-check"},
	{name: "help", short: 'h'},
	{name: "http-address", value: true},
	{name: "http-port", value: true},
	{name: "impersonate-service-account", value: true},
	{name: "json-credentials", short: 'j', value: true},
	{name: "lazy-refresh"},
	{name: "login-token", value: true},
	{name: "max-connections", value: true},
	{name: "max-sigterm-delay", value: true},
	{name: "min-sigterm-delay", value: true},
	{name: "port", short: 'p', value: true},
	{name: "private-ip"},
	{name: "prometheus"},
	{name: "prometheus-namespace", value: true},
	{name: "psc"},
	{name: "quiet"},
	{name: "quitquitquit"},
	{name: "quota-project", value: true},
	{name: "resource-exhausted-cooldown-delay", value: true},
	{name: "run-connection-test"},
	{name: "skip-failed-instance-config"},
	{name: "sql-data"},
	{name: "sqladmin-api-endpoint", value: true},
	{name: "sqldata-api-endpoint", value: true},
	{name: "structured-logs", short: 'l'},
	{name: "telemetry-prefix", value: true},
	{name: "telemetry-project", value: true},
	{name: "telemetry-sample-rate", value: true},
	{name: "token", short: 't', value: true},
	{name: "universe-domain", value: true},
	{name: "unix-socket", short: 'u', value: true},
	{name: "user-agent", value: true},
	{name: "version", short: 'v'},
}

// v2FlagAliases are the names NewCommand's normalize function rewrites.
var v2FlagAliases = map[string]string{"sql-data-endpoint": "sqldata-api-endpoint"}

// v2Subcommands are the root command's subcommands (wait and shutdown in
// cmd/root.go, help and completion added by cobra): a container whose first
// positional argument is one of them does not run a proxy.
var v2Subcommands = []string{"completion", "help", "shutdown", "wait"}

// EnvPrefix starts the names of the environment variables v2 reads its
// settings from.
const EnvPrefix = "CSQL_PROXY_"

// FlagNames are the long names of every flag of the root command, sorted.
func FlagNames() []string {
	names := make([]string, len(v2Flags))
	for i, f := range v2Flags {
		names[i] = f.name
	}
	return names
}

func lookupV2Flag(name string) (v2Flag, bool) {
	if a, ok := v2FlagAliases[name]; ok {
		name = a
	}
	i := sort.Search(len(v2Flags), func(i int) bool { return v2Flags[i].name >= name })
	if i < len(v2Flags) && v2Flags[i].name == name {
		return v2Flags[i], true
	}
	return v2Flag{}, false
}

func lookupV2Short(c byte) (v2Flag, bool) {
	for _, f := range v2Flags {
		if f.short == c && c != 0 {
			return f, true
		}
	}
	return v2Flag{}, false
}

// v2EnvName is the variable viper reads for a flag: the prefix, then the
// name in capitals with underscores (initViper: SetEnvPrefix, an "-" to "_"
// key replacer, AutomaticEnv).
func v2EnvName(flag string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Setting is one setting read from a v2 proxy container: a flag or an
// instance.
type Setting struct {
	// Name is the flag's long name, aliases resolved; empty for an instance.
	Name string
	// Value is the value as written: a connection name with its query for
	// an instance, "true" for a boolean flag given bare.
	Value string
	// Path is the argument or env var the setting was read from.
	Path *field.Path
	// From is the env var's valueFrom when its value is not written in the
	// pod (a Secret or ConfigMap key, a field reference); Value is then "".
	From *corev1.EnvVarSource
}

// SplitV2 reads the settings of a v2 proxy from its argv (the binary first)
// and its container's env, the way the proxy does: pflag syntax (--flag=v,
// --flag v, -f v, -fv, bundled boolean shorthands, "--" ending the flags),
// flags winning over CSQL_PROXY_* env vars, instances from
// CSQL_PROXY_INSTANCE_CONNECTION_NAME[_N] only when no argument names one.
// Two departures, both towards the user's evident intent: a long flag written
// with one dash (-port) is read as the long flag (pflag would read -p ort),
// and a boolean flag followed by a separate "true" or "false" is an error
// rather than an instance of that name. Errors name every argument or
// variable the proxy would reject or silently ignore; values other than
// booleans are not type-checked here (the library's flag table, mapping
// them to options, does that). flags are sorted by name, one per flag (the
// last occurrence wins, as in pflag); instances keep their order. at gives
// the path of each element of argv, envPath that of env.
func SplitV2(argv []string, at func(int) *field.Path, env []corev1.EnvVar, envPath *field.Path) (flags, instances []Setting, errs field.ErrorList) {
	r := v2Reader{set: map[string]Setting{}}
	instances = r.args(argv, at)
	if len(instances) > 0 {
		for _, sub := range v2Subcommands {
			if instances[0].Value == sub {
				r.errs = append(r.errs, field.Invalid(instances[0].Path, sub, "runs the proxy's "+sub+" subcommand, not a proxy"))
			}
		}
	}
	e := newV2Env(env, envPath)
	r.envFlags(e)
	instances = r.envInstances(e, instances)
	for _, f := range v2Flags {
		if s, ok := r.set[f.name]; ok {
			flags = append(flags, s)
		}
	}
	return flags, instances, r.errs
}

// v2Reader collects what SplitV2 reads: the flags set so far, by name, and
// the errors.
type v2Reader struct {
	set  map[string]Setting
	errs field.ErrorList
}

func (r *v2Reader) fail(p *field.Path, value, why string) {
	r.errs = append(r.errs, field.Invalid(p, value, why))
}

// put sets flag f to value, read from arg at p.
func (r *v2Reader) put(f v2Flag, value string, p *field.Path, arg string) {
	switch {
	case f.name == "help" || f.name == "version":
		r.fail(p, arg, "prints --"+f.name+" and exits instead of running the proxy")
	case !f.value:
		if _, err := strconv.ParseBool(value); err != nil {
			r.fail(p, value, "--"+f.name+" is a boolean: true or false")
			return
		}
		fallthrough
	default:
		r.set[f.name] = Setting{Name: f.name, Value: value, Path: p}
	}
}

// args reads argv's flags into r and returns its positional arguments, the
// instances.
func (r *v2Reader) args(argv []string, at func(int) *field.Path) (instances []Setting) {
	onlyPositional := false
	for i := 1; i < len(argv); i++ {
		a := argv[i]
		switch {
		case onlyPositional || len(a) < 2 || a[0] != '-':
			instances = append(instances, Setting{Value: a, Path: at(i)})
		case a == "--":
			onlyPositional = true
		default:
			i = r.flagArg(argv, i, at)
		}
	}
	return instances
}

// flagArg reads the flag argument argv[i], and its value from the next
// argument when it takes one written apart; it returns the index of the
// last argument read.
func (r *v2Reader) flagArg(argv []string, i int, at func(int) *field.Path) int {
	a, p := argv[i], at(i)
	body := strings.TrimPrefix(a[1:], "-")
	name, value, hasValue := strings.Cut(body, "=")
	f, long := lookupV2Flag(name)
	if a[1] != '-' && len(name) < 2 {
		long = false
	}
	switch {
	case a[1] == '-' && !long && (name == "" || name[0] == '-'):
		r.fail(p, a, "bad flag syntax")
	case a[1] == '-' && !long:
		r.fail(p, a, "unknown flag --"+name+" (proxy "+Release+")")
	case long:
		return r.longFlag(argv, i, at, f, value, hasValue)
	default:
		return r.shorthands(argv, i, p, body)
	}
	return i
}

// longFlag reads the long flag f at argv[i] (with its value when hasValue).
func (r *v2Reader) longFlag(argv []string, i int, at func(int) *field.Path, f v2Flag, value string, hasValue bool) int {
	a, p := argv[i], at(i)
	switch {
	case hasValue:
	case !f.value:
		value = "true"
		if i+1 < len(argv) && isBoolWord(argv[i+1]) {
			r.fail(at(i+1), argv[i+1], "--"+f.name+" takes no separate value (write --"+f.name+"="+argv[i+1]+"); the proxy reads this as an instance")
			return i + 1
		}
	case i+1 < len(argv):
		i++
		value = argv[i]
	default:
		r.fail(p, a, "--"+f.name+" needs a value")
		return i
	}
	r.put(f, value, p, a)
	return i
}

// isBoolWord reports whether the argument after a bare boolean flag is a
// value the user meant for it.
func isBoolWord(s string) bool {
	_, err := strconv.ParseBool(s)
	return err == nil
}

// shorthands reads a bundle of shorthands, body, at argv[i] (path p), as
// pflag's parseShortArg reads it.
func (r *v2Reader) shorthands(argv []string, i int, p *field.Path, body string) int {
	a := argv[i]
	for j := 0; j < len(body); j++ {
		f, ok := lookupV2Short(body[j])
		if !ok {
			r.fail(p, a, "unknown shorthand flag -"+string(body[j])+" (proxy "+Release+")")
			break
		}
		rest := body[j+1:]
		if strings.HasPrefix(rest, "=") {
			r.put(f, rest[1:], p, a)
			break
		}
		if !f.value {
			r.put(f, "true", p, a)
			continue
		}
		switch {
		case rest != "":
			r.put(f, rest, p, a)
		case i+1 < len(argv):
			i++
			r.put(f, argv[i], p, a)
		default:
			r.fail(p, a, "-"+string(body[j])+" (--"+f.name+") needs a value")
		}
		break
	}
	return i
}

// v2Env is a container's env as the proxy sees it.
type v2Env struct {
	env  []corev1.EnvVar
	path *field.Path
	// last is where each name is last defined: that definition wins, as in
	// the kubelet.
	last map[string]int
}

func newV2Env(env []corev1.EnvVar, path *field.Path) v2Env {
	last := map[string]int{}
	for j, e := range env {
		last[e.Name] = j
	}
	return v2Env{env: env, path: path, last: last}
}

// lookup is the variable name as viper reads it.
func (e v2Env) lookup(name string) (Setting, bool) {
	j, ok := e.last[name]
	if !ok {
		return Setting{}, false
	}
	v := e.env[j]
	if v.ValueFrom != nil {
		return Setting{Path: e.path.Index(j).Child("valueFrom"), From: v.ValueFrom}, true
	}
	// Viper ignores empty variables (AllowEmptyEnv is off).
	return Setting{Value: v.Value, Path: e.path.Index(j).Child("value")}, v.Value != ""
}

// envFlags reads the flags no argument set from their CSQL_PROXY_*
// variables.
func (r *v2Reader) envFlags(e v2Env) {
	for _, f := range v2Flags {
		if _, ok := r.set[f.name]; ok || f.name == "help" || f.name == "version" {
			continue
		}
		names := []string{v2EnvName(f.name)}
		for alias, to := range v2FlagAliases {
			if to == f.name {
				names = append(names, v2EnvName(alias))
			}
		}
		for _, n := range names {
			s, ok := e.lookup(n)
			if !ok {
				continue
			}
			s.Name = f.name
			if s.From == nil && !f.value && !isBoolWord(s.Value) {
				// The proxy drops a value it cannot parse without a word
				// (loadConfig ignores the error of Flags().Set).
				r.fail(s.Path, s.Value, n+" is a boolean: true or false (the proxy ignores any other value)")
				break
			}
			r.set[f.name] = s
			break
		}
	}
}

// instanceEnv names the variables instanceFromEnv reads instances from.
const instanceEnv = EnvPrefix + "INSTANCE_CONNECTION_NAME"

// envInstances returns the instances as instanceFromEnv finds them: args,
// the ones the arguments name, when there are any; else the unnumbered
// variable, or else _0, then _1, _2, ... up to the first one missing.
// Variables it never reads are errors: they look like instances the pod
// has but the proxy does not serve.
func (r *v2Reader) envInstances(e v2Env, args []Setting) []Setting {
	var insts []Setting
	read := map[string]bool{}
	for _, name := range []string{instanceEnv, instanceEnv + "_0"} {
		if s, ok := e.lookup(name); ok {
			insts, read[name] = append(insts, s), true
			break
		}
	}
	for n := 1; len(insts) > 0; n++ {
		name := instanceEnv + "_" + strconv.Itoa(n)
		s, ok := e.lookup(name)
		if !ok {
			break
		}
		insts, read[name] = append(insts, s), true
	}
	for j, v := range e.env {
		if e.last[v.Name] != j || v.ValueFrom == nil && v.Value == "" {
			continue
		}
		rest, ok := strings.CutPrefix(v.Name, instanceEnv)
		if !ok || rest != "" && !isEnvIndex(rest) {
			continue
		}
		switch {
		case len(args) > 0:
			r.fail(e.path.Index(j).Child("name"), v.Name, "the proxy ignores it because the arguments name instances")
		case !read[v.Name]:
			r.fail(e.path.Index(j).Child("name"), v.Name, "the proxy never reads it: it reads "+instanceEnv+" or else "+instanceEnv+"_0, then _1, _2, ... up to the first one missing")
		}
	}
	if len(args) > 0 {
		return args
	}
	return insts
}

// isEnvIndex reports whether s is "_N" with N a number as strconv.Itoa
// writes it.
func isEnvIndex(s string) bool {
	rest, ok := strings.CutPrefix(s, "_")
	k, err := strconv.Atoi(rest)
	return ok && err == nil && k >= 0 && strconv.Itoa(k) == rest
}
