package main

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/podspec/cloudsqlproxy"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// flagNames names the library's option paths (WithPort,
// WithInstance[1][port]) the way the command's flags do (--port,
// "--instance #3 port"), keyed by the paths' text. It is built from the
// command's own flags: the paths each flag of this run can give rise to
// are made with the library's path scheme and looked up, never parsed.
type flagNames map[string]string

// optionFlags names the flags of the options that the command sets from
// flags of its own, and the functions its problems may point to.
var optionFlags = map[string]string{
	"WithName":                 "--container-name",
	"WithImage":                "--image",
	"WithProxyVersion":         "--proxy-version",
	"WithImagePullPolicy":      "--image-pull-policy",
	"WithCredentialsSecret":    "--credentials-secret",
	"WithCredentialsSecretKey": "--credentials-secret-key",
	"WithStartupProbe":         "--startup-probe",
	"WithLivenessProbe":        "--liveness-probe",
	"WithReadinessProbe":       "--readiness-probe",
	"WithLegacySidecar":        "--legacy-sidecar",
	"ForJob":                   "--job-timeout",
	"WithAppEnv":               "--app-env/--host-env/--port-env/--socket-env",
	"WithInstance":             "--instance",
	"WithResources":            "--cpu-request/--memory-request/--cpu-limit/--memory-limit",
	"WithTelemetry":            "--telemetry-project",
	// Attach points to FromContainer to keep a proxy's settings; the
	// command does that with --adopt.
	"FromContainer": "--adopt",
}

// probeFields are the keys of the probe flags, by ProbeTiming's fields.
var probeFields = map[string]string{
	"InitialDelaySeconds": "delay",
	"PeriodSeconds":       "period",
	"TimeoutSeconds":      "timeout",
	"FailureThreshold":    "failure",
}

// instanceKeys are the per-instance query keys the help documents; an
// instance's own keys, known or not, are named too.
var instanceKeys = []string{"port", "private-ip", "psc", "auto-iam-authn"}

// namer gives the flag names of the options this run's flags set.
func (f *flags) namer() flagNames {
	_, origins := f.proxyOptions()
	n := flagNames{}
	for opt, fl := range optionFlags {
		n[opt] = fl
	}
	for _, pf := range proxyFlags {
		// Of two flags of one option (WithPrometheus), the later one takes
		// the value the problems are about.
		n[pf.lib.Option.String()] = "--" + pf.name
	}
	instances, flag := f.instances, "--instance #%d"
	if len(instances) == 0 {
		// Without --instance, an instance a problem names is one read from
		// the workload's own proxy, which no flag of this run set.
		instances, flag = make([]string, maxAdoptedInstances), "the adopted proxy's instance #%d"
	}
	for i, in := range instances {
		p, label := field.NewPath("instance"), fmt.Sprintf(flag, 1)
		if i > 0 {
			p, label = field.NewPath("WithInstance").Index(i-1), fmt.Sprintf(flag, i+1)
		}
		n[p.String()] = label
		keys := instanceKeys
		if _, query, ok := strings.Cut(in, "?"); ok {
			q, _ := url.ParseQuery(query)
			for k := range q {
				keys = append(keys[:len(keys):len(keys)], k)
			}
		}
		for _, k := range keys {
			n[p.Key(k).String()] = label + " " + k
		}
	}
	for _, tf := range f.proxy {
		if tf.def.name != "impersonate" {
			continue
		}
		for i := 0; i <= strings.Count(tf.value, ","); i++ {
			n[field.NewPath("WithImpersonation").Index(i).String()] = fmt.Sprintf("--impersonate #%d", i+1)
		}
	}
	for _, probe := range []string{"WithStartupProbe", "WithLivenessProbe", "WithReadinessProbe"} {
		for name, key := range probeFields {
			n[field.NewPath(probe, name).String()] = optionFlags[probe] + " " + key
		}
	}
	for _, r := range []struct{ list, name, flag string }{
		{"Requests", "cpu", "--cpu-request"}, {"Requests", "memory", "--memory-request"},
		{"Limits", "cpu", "--cpu-limit"}, {"Limits", "memory", "--memory-limit"},
	} {
		n[field.NewPath("WithResources", r.list).Key(r.name).String()] = r.flag
	}
	for i, o := range origins {
		p := field.NewPath("WithAppEnv").Index(i)
		if o.flag == "shorthand" {
			n[p.String()] = "--host-env/--port-env/--socket-env (for the first --instance)"
			n[p.Child("instance").String()] = n[p.String()]
			n[p.Child("Host").String()] = "--host-env"
			n[p.Child("Port").String()] = "--port-env"
			n[p.Child("Socket").String()] = "--socket-env"
			continue
		}
		n[p.String()] = o.flag
		for _, k := range []string{"instance", "Host", "Port", "Socket"} {
			n[p.Child(k).String()] = o.flag + " " + strings.ToLower(k)
		}
	}
	return n
}

// maxAdoptedInstances is how many instances of an adopted proxy problems
// name by number; a proxy with more is named by option path beyond them.
const maxAdoptedInstances = 16

// name is the flag behind an option path, or the path itself for one no
// flag of this run sets (an adopted container's own instances).
func (n flagNames) name(p *field.Path) string {
	if s, ok := n[p.String()]; ok {
		return s
	}
	return p.String()
}

// config formats an error of New: one line per problem, naming flags.
func (n flagNames) config(err error) []string {
	ps := cloudsqlproxy.Problems(err)
	if len(ps) == 0 {
		return []string{err.Error()}
	}
	out := make([]string, len(ps))
	for i := range ps {
		out[i] = n.name(ps[i].Field) + ": " + ps[i].FieldError(n.name).ErrorBody()
	}
	return out
}

// pod formats an error of Attach, Detach, AttachTo or DetachFrom: one line
// per problem, its path from the document's root (base is where the
// library's paths start: the pod spec, or the object holding the metadata
// of a record).
func (n flagNames) pod(err error, base *field.Path) []string {
	ps := cloudsqlproxy.Problems(err)
	if len(ps) == 0 {
		return []string{fmt.Sprintf("%s: %v", base, err)}
	}
	out := make([]string, len(ps))
	for i := range ps {
		out[i] = under(base, ps[i].Field.String()) + ": " + ps[i].FieldError(n.name).ErrorBody()
	}
	return out
}

// under joins a path from the document's root and a path the library
// reports from base, as field.Path renders a child.
func under(base *field.Path, rel string) string {
	if base == nil {
		return rel
	}
	return base.String() + "." + rel
}
