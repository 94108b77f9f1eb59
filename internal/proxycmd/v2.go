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

// v2Flags are the flags of the `cloud-sql-proxy` root command as NewCommand
// registers them in cmd/root.go of
// github.com/GoogleCloudPlatform/cloud-sql-proxy/v2 v2.25.3 (localFlags and
// globalFlags; the wait and shutdown subcommands have their own). The reader
// has to know which flags take a value: pflag reads `--port 5432` as a flag
// and its value but `--private-ip true` as a flag and an instance named
// "true".
var v2Flags = []v2Flag{
	{name: "address", short: 'a', value: true},
	{name: "admin-port", value: true},
	{name: "auto-iam-authn", short: 'i'},
	{name: "auto-ip"},
	{name: "config-file", value: true},
	{name: "credentials-file", short: 'c', value: true},
	{name: "debug"},
	{name: "debug-logs"},
	{name: "disable-metrics"},
	{name: "disable-traces"},
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
	set := map[string]Setting{}
	put := func(f v2Flag, value string, p *field.Path, arg string) {
		switch {
		case f.name == "help" || f.name == "version":
			errs = append(errs, field.Invalid(p, arg, "prints --"+f.name+" and exits instead of running the proxy"))
		case !f.value:
			if _, err := strconv.ParseBool(value); err != nil {
				errs = append(errs, field.Invalid(p, value, "--"+f.name+" is a boolean: true or false"))
				return
			}
			fallthrough
		default:
			set[f.name] = Setting{Name: f.name, Value: value, Path: p}
		}
	}
	// isBoolWord reports whether the argument after a bare boolean flag is a
	// value the user meant for it.
	isBoolWord := func(i int) bool {
		if i >= len(argv) {
			return false
		}
		_, err := strconv.ParseBool(argv[i])
		return err == nil
	}
	onlyPositional := false
	for i := 1; i < len(argv); i++ {
		a := argv[i]
		p := at(i)
		if onlyPositional || len(a) < 2 || a[0] != '-' {
			instances = append(instances, Setting{Value: a, Path: p})
			continue
		}
		if a == "--" {
			onlyPositional = true
			continue
		}
		body := strings.TrimPrefix(a[1:], "-")
		name, value, hasValue := strings.Cut(body, "=")
		f, long := lookupV2Flag(name)
		if a[1] != '-' && len(name) < 2 {
			long = false
		}
		if a[1] == '-' && !long {
			if name == "" || name[0] == '-' {
				errs = append(errs, field.Invalid(p, a, "bad flag syntax"))
			} else {
				errs = append(errs, field.Invalid(p, a, "unknown flag --"+name+" (proxy v2.25.3)"))
			}
			continue
		}
		if long {
			switch {
			case hasValue:
			case !f.value:
				value = "true"
				if isBoolWord(i + 1) {
					errs = append(errs, field.Invalid(at(i+1), argv[i+1], "--"+f.name+" takes no separate value (write --"+f.name+"="+argv[i+1]+"); the proxy reads this as an instance"))
					i++
					continue
				}
			case i+1 < len(argv):
				i++
				value = argv[i]
			default:
				errs = append(errs, field.Invalid(p, a, "--"+f.name+" needs a value"))
				continue
			}
			put(f, value, p, a)
			continue
		}
		// A bundle of shorthands, as pflag's parseShortArg reads it.
		for j := 0; j < len(body); j++ {
			f, ok := lookupV2Short(body[j])
			if !ok {
				errs = append(errs, field.Invalid(p, a, "unknown shorthand flag -"+string(body[j])+" (proxy v2.25.3)"))
				break
			}
			rest := body[j+1:]
			if strings.HasPrefix(rest, "=") {
				put(f, rest[1:], p, a)
				break
			}
			if !f.value {
				put(f, "true", p, a)
				continue
			}
			switch {
			case rest != "":
				put(f, rest, p, a)
			case i+1 < len(argv):
				i++
				put(f, argv[i], p, a)
			default:
				errs = append(errs, field.Invalid(p, a, "-"+string(body[j])+" (--"+f.name+") needs a value"))
			}
			break
		}
	}
	if len(instances) > 0 {
		for _, sub := range v2Subcommands {
			if instances[0].Value == sub {
				errs = append(errs, field.Invalid(instances[0].Path, sub, "runs the proxy's "+sub+" subcommand, not a proxy"))
			}
		}
	}

	// Env vars: the last definition of a name wins, as in the kubelet.
	last := map[string]int{}
	for j, e := range env {
		last[e.Name] = j
	}
	fromEnv := func(name string) (Setting, bool) {
		j, ok := last[name]
		if !ok {
			return Setting{}, false
		}
		e := env[j]
		if e.ValueFrom != nil {
			return Setting{Path: envPath.Index(j).Child("valueFrom"), From: e.ValueFrom}, true
		}
		// Viper ignores empty variables (AllowEmptyEnv is off).
		return Setting{Value: e.Value, Path: envPath.Index(j).Child("value")}, e.Value != ""
	}
	for _, f := range v2Flags {
		if _, ok := set[f.name]; ok || f.name == "help" || f.name == "version" {
			continue
		}
		names := []string{v2EnvName(f.name)}
		for alias, to := range v2FlagAliases {
			if to == f.name {
				names = append(names, v2EnvName(alias))
			}
		}
		for _, n := range names {
			e, ok := fromEnv(n)
			if !ok {
				continue
			}
			e.Name = f.name
			if e.From == nil && !f.value {
				if _, err := strconv.ParseBool(e.Value); err != nil {
					// The proxy drops a value it cannot parse without a word
					// (loadConfig ignores the error of Flags().Set).
					errs = append(errs, field.Invalid(e.Path, e.Value, n+" is a boolean: true or false (the proxy ignores any other value)"))
					break
				}
			}
			set[f.name] = e
			break
		}
	}
	// instanceFromEnv: the unnumbered name, or else _0, then _1, _2, ...
	// up to the first one missing; none of them when an argument names an
	// instance. Variables it never reads are errors: they look like
	// instances the pod has but the proxy does not serve.
	const instEnv = EnvPrefix + "INSTANCE_CONNECTION_NAME"
	var envInsts []Setting
	read := map[string]bool{}
	for _, name := range []string{instEnv, instEnv + "_0"} {
		if e, ok := fromEnv(name); ok {
			envInsts, read[name] = append(envInsts, e), true
			break
		}
	}
	for n := 1; len(envInsts) > 0; n++ {
		name := instEnv + "_" + strconv.Itoa(n)
		e, ok := fromEnv(name)
		if !ok {
			break
		}
		envInsts, read[name] = append(envInsts, e), true
	}
	positional := len(instances) > 0
	if !positional {
		instances = envInsts
	}
	for j, e := range env {
		if last[e.Name] != j || e.ValueFrom == nil && e.Value == "" {
			continue
		}
		rest, ok := strings.CutPrefix(e.Name, instEnv)
		if !ok || rest != "" && !isEnvIndex(rest) {
			continue
		}
		switch {
		case positional:
			errs = append(errs, field.Invalid(envPath.Index(j).Child("name"), e.Name, "the proxy ignores it because the arguments name instances"))
		case !read[e.Name]:
			errs = append(errs, field.Invalid(envPath.Index(j).Child("name"), e.Name, "the proxy never reads it: it reads "+instEnv+" or else "+instEnv+"_0, then _1, _2, ... up to the first one missing"))
		}
	}

	for _, f := range v2Flags {
		if e, ok := set[f.name]; ok {
			flags = append(flags, e)
		}
	}
	return flags, instances, errs
}

// isEnvIndex reports whether s is "_N" with N a number as strconv.Itoa
// writes it.
func isEnvIndex(s string) bool {
	rest, ok := strings.CutPrefix(s, "_")
	k, err := strconv.Atoi(rest)
	return ok && err == nil && k >= 0 && strconv.Itoa(k) == rest
}
