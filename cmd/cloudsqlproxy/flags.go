package main

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/podspec/cloudsqlproxy"
	"github.com/podspec/cloudsqlproxy/internal/flagtab"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// flags holds the command line of inject and remove. Values are checked
// for syntax here (a bad one is a usage error, exit 2); what they mean
// together is the library's to validate (exit 1).
type flags struct {
	files    stringList
	selector string
	names    stringList

	instances     stringList
	containerName string
	image         string
	proxyVersion  string
	pullPolicy    string
	cpuRequest    quantityFlag
	memoryRequest quantityFlag
	cpuLimit      quantityFlag
	memoryLimit   quantityFlag
	credSecret    string
	credKey       string
	startupProbe  probeFlag
	livenessProbe probeFlag
	readyProbe    probeFlag
	appEnv        appEnvList
	hostEnv       string
	portEnv       string
	socketEnv     string
	legacy        bool
	jobTimeout    durationFlag
	adopt         bool
	appNameFrom   bool

	// proxy holds the flags of proxyFlags, in its order.
	proxy []*tableFlag

	set map[string]bool // flags given on the command line
}

func (f *flags) register(fs *flag.FlagSet) {
	fs.Var(&f.files, "f", "")
	fs.Var(&f.files, "filename", "")
	fs.StringVar(&f.selector, "selector", "", "")
	fs.Var(&f.names, "name", "")

	fs.Var(&f.instances, "instance", "")
	fs.StringVar(&f.containerName, "container-name", "", "")
	fs.StringVar(&f.image, "image", "", "")
	fs.StringVar(&f.proxyVersion, "proxy-version", "", "")
	fs.StringVar(&f.pullPolicy, "image-pull-policy", "", "")
	fs.Var(&f.cpuRequest, "cpu-request", "")
	fs.Var(&f.memoryRequest, "memory-request", "")
	fs.Var(&f.cpuLimit, "cpu-limit", "")
	fs.Var(&f.memoryLimit, "memory-limit", "")
	fs.StringVar(&f.credSecret, "credentials-secret", "", "")
	fs.StringVar(&f.credKey, "credentials-secret-key", "", "")
	fs.Var(&f.startupProbe, "startup-probe", "")
	fs.Var(&f.livenessProbe, "liveness-probe", "")
	fs.Var(&f.readyProbe, "readiness-probe", "")
	fs.Var(&f.appEnv, "app-env", "")
	fs.StringVar(&f.hostEnv, "host-env", "", "")
	fs.StringVar(&f.portEnv, "port-env", "", "")
	fs.StringVar(&f.socketEnv, "socket-env", "", "")
	fs.BoolVar(&f.legacy, "legacy-sidecar", false, "")
	fs.BoolVar(&f.adopt, "adopt", true, "")
	fs.Var(&f.jobTimeout, "job-timeout", "")
	fs.BoolVar(&f.appNameFrom, "application-name-from-workload", false, "")
	for i := range proxyFlags {
		tf := &tableFlag{def: &proxyFlags[i]}
		f.proxy = append(f.proxy, tf)
		fs.Var(tf, tf.def.name, "")
	}
}

// check finds usage errors the flag package cannot: what is required and
// which flags only mean something with another.
func (f *flags) check() error {
	switch {
	case len(f.files) == 0:
		return errors.New("no input: give -f FILE (repeatable), or -f - to read standard input")
	case len(f.instances) == 0 && (f.hostEnv != "" || f.portEnv != "" || f.socketEnv != ""):
		return errors.New("--host-env, --port-env and --socket-env name variables of the first --instance: give --instance (or use --app-env INSTANCE:...)")
	case f.set["prometheus-namespace"] && !f.on("prometheus"):
		return errors.New("--prometheus-namespace needs --prometheus")
	case f.appNameFrom && f.set["application-name"]:
		return errors.New("--application-name-from-workload and --application-name both set the metrics' application name: give one")
	}
	stdin := 0
	for _, p := range f.files {
		if p == "-" {
			stdin++
		}
	}
	if stdin > 1 {
		return errors.New("-f - given more than once: standard input can be read only once")
	}
	return nil
}

// appEnvOrigin remembers which flag produced each WithAppEnv, so that the
// library's errors about it name that flag.
type appEnvOrigin struct{ flag string }

// proxyOptions maps the flags to the library's options, common to every
// mode. Only flags given on the command line produce an option, so every
// default is the library's.
func (f *flags) proxyOptions() ([]cloudsqlproxy.Option, []appEnvOrigin) {
	var opts []cloudsqlproxy.Option
	add := func(name string, o cloudsqlproxy.Option) {
		if f.set[name] {
			opts = append(opts, o)
		}
	}
	add("container-name", cloudsqlproxy.WithName(f.containerName))
	add("image", cloudsqlproxy.WithImage(f.image))
	add("proxy-version", cloudsqlproxy.WithProxyVersion(f.proxyVersion))
	add("image-pull-policy", cloudsqlproxy.WithImagePullPolicy(corev1.PullPolicy(f.pullPolicy)))
	if r, ok := f.resources(); ok {
		opts = append(opts, cloudsqlproxy.WithResources(r))
	}
	add("credentials-secret", cloudsqlproxy.WithCredentialsSecret(f.credSecret))
	add("credentials-secret-key", cloudsqlproxy.WithCredentialsSecretKey(f.credKey))
	add("startup-probe", cloudsqlproxy.WithStartupProbe(f.startupProbe.t))
	add("liveness-probe", cloudsqlproxy.WithLivenessProbe(f.livenessProbe.t))
	add("readiness-probe", cloudsqlproxy.WithReadinessProbe(f.readyProbe.t))
	for _, tf := range f.proxy {
		if tf.given {
			opts = append(opts, tf.option)
		}
	}

	var origins []appEnvOrigin
	if f.hostEnv != "" || f.portEnv != "" || f.socketEnv != "" {
		first, _, _ := strings.Cut(f.firstInstance(), "?")
		opts = append(opts, cloudsqlproxy.WithAppEnv(first, cloudsqlproxy.AppEnv{Host: f.hostEnv, Port: f.portEnv, Socket: f.socketEnv}))
		origins = append(origins, appEnvOrigin{"shorthand"})
	}
	for i, ae := range f.appEnv {
		opts = append(opts, cloudsqlproxy.WithAppEnv(ae.instance, ae.env))
		origins = append(origins, appEnvOrigin{fmt.Sprintf("--app-env #%d", i+1)})
	}
	return opts, origins
}

// on reports whether the table's switch name is on.
func (f *flags) on(name string) bool {
	for _, tf := range f.proxy {
		if tf.def.name == name {
			return tf.given && tf.value == "true"
		}
	}
	return false
}

// tableFlag is a flag of proxyFlags. Its value is checked for syntax when
// it is set (a usage error); its meaning is the library's to check. A
// switch counts by its value: --private-ip=false asks for nothing.
type tableFlag struct {
	def    *proxyFlag
	value  string // in the proxy's syntax
	given  bool
	option cloudsqlproxy.Option
}

func (t *tableFlag) String() string { return t.value }

func (t *tableFlag) IsBoolFlag() bool { return t.def.lib.Kind == flagtab.Switch }

func (t *tableFlag) Set(s string) error {
	v := s
	switch t.def.lib.Kind {
	case flagtab.Switch:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return errors.New("not true or false")
		}
		v = strconv.FormatBool(b)
	case flagtab.Count:
		if _, err := strconv.ParseInt(s, 10, 64); err != nil {
			if _, err := strconv.ParseUint(s, 10, 64); err != nil {
				return errors.New("not an integer")
			}
		}
	case flagtab.Port:
		var p int32Flag
		if err := p.Set(s); err != nil {
			return err
		}
	case flagtab.Duration:
		var d durationFlag
		if err := d.Set(s); err != nil {
			return err
		}
		v = d.d.String()
	}
	o, err := flagtab.Option(t.def.proxy, v)
	if err != nil {
		return err
	}
	t.value, t.given, t.option = v, true, o.(cloudsqlproxy.Option)
	return nil
}

// resources lays the resource flags over the library's default
// requirements, so that --memory-limit alone keeps the default requests
// rather than dropping them.
func (f *flags) resources() (corev1.ResourceRequirements, bool) {
	if !f.cpuRequest.set && !f.memoryRequest.set && !f.cpuLimit.set && !f.memoryLimit.set {
		return corev1.ResourceRequirements{}, false
	}
	def := defaults()
	r := *def.Resources.DeepCopy()
	put := func(list *corev1.ResourceList, name corev1.ResourceName, q quantityFlag) {
		if !q.set {
			return
		}
		if *list == nil {
			*list = corev1.ResourceList{}
		}
		(*list)[name] = q.q
	}
	put(&r.Requests, corev1.ResourceCPU, f.cpuRequest)
	put(&r.Requests, corev1.ResourceMemory, f.memoryRequest)
	put(&r.Limits, corev1.ResourceCPU, f.cpuLimit)
	put(&r.Limits, corev1.ResourceMemory, f.memoryLimit)
	return r, true
}

// placeholderInstance stands in for --instance when it is not given, so
// that the flags are still checked before any workload is read: its
// proxies then only serve to adopt workloads' own proxies.
const placeholderInstance = "example-project:us-central1:example"

func (f *flags) firstInstance() string {
	if len(f.instances) == 0 {
		return placeholderInstance
	}
	return f.instances[0]
}

// newWith builds a proxy for instances, the first New's argument and the
// others WithInstance options before opts; with none, for the placeholder.
func newWith(instances []string, opts []cloudsqlproxy.Option) (*cloudsqlproxy.Proxy, error) {
	if len(instances) == 0 {
		return cloudsqlproxy.New(placeholderInstance, opts...)
	}
	all := make([]cloudsqlproxy.Option, 0, len(instances)-1+len(opts))
	for _, in := range instances[1:] {
		all = append(all, cloudsqlproxy.WithInstance(in))
	}
	return cloudsqlproxy.New(instances[0], append(all, opts...)...)
}

// proxies builds the proxy for ordinary workloads and, with --job-timeout,
// the one for Jobs and CronJobs, and returns their options without the
// instances, for workloads whose own proxy is adopted. The errors are the
// library's problems, naming flags. Without --instance the proxies are nil.
func (f *flags) proxies() (pod, job *cloudsqlproxy.Proxy, podOpts, jobOpts []cloudsqlproxy.Option, errs []string) {
	opts, _ := f.proxyOptions()
	names := f.namer()
	podOpts = opts
	if f.legacy {
		podOpts = append(podOpts[:len(podOpts):len(podOpts)], cloudsqlproxy.WithLegacySidecar())
	}
	pod, err := newWith(f.instances, podOpts)
	if err != nil {
		errs = names.config(err)
	}
	if f.set["job-timeout"] {
		jobOpts = append(opts[:len(opts):len(opts)], cloudsqlproxy.ForJob(f.jobTimeout.d))
		var jerr error
		job, jerr = newWith(f.instances, jobOpts)
		if jerr != nil {
			seen := map[string]bool{}
			for _, e := range errs {
				seen[e] = true
			}
			for _, e := range names.config(jerr) {
				if !seen[e] {
					errs = append(errs, e)
				}
			}
		}
	}
	if len(errs) > 0 {
		return nil, nil, nil, nil, errs
	}
	if len(f.instances) == 0 {
		pod, job = nil, nil
	}
	return pod, job, podOpts, jobOpts, nil
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// int32Flag is a port number; its range is the library's to check.
type int32Flag struct{ v int32 }

func (i *int32Flag) String() string { return strconv.Itoa(int(i.v)) }
func (i *int32Flag) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return errors.New("not a port number")
	}
	i.v = int32(n)
	return nil
}

// durationFlag is a Go duration such as 30s or 1m30s; unlike the flag
// package's own, its error says what is wrong with the value.
type durationFlag struct{ d time.Duration }

func (f *durationFlag) String() string { return f.d.String() }
func (f *durationFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("not a duration such as 30s or 1m30s (%s)", strings.TrimPrefix(err.Error(), "time: "))
	}
	f.d = d
	return nil
}

// quantityFlag is a Kubernetes resource quantity such as 250m or 1Gi.
type quantityFlag struct {
	q   resource.Quantity
	set bool
}

func (q *quantityFlag) String() string { return q.q.String() }
func (q *quantityFlag) Set(s string) error {
	v, err := resource.ParseQuantity(s)
	if err != nil {
		return errors.New("not a quantity such as 250m, 1 or 512Mi")
	}
	q.q, q.set = v, true
	return nil
}

// probeFlag is "period=1,timeout=5,failure=60,delay=0"; an empty value or
// "default" keeps every default (for --readiness-probe: turns the probe on).
type probeFlag struct{ t cloudsqlproxy.ProbeTiming }

func (p *probeFlag) String() string { return "" }
func (p *probeFlag) Set(s string) error {
	p.t = cloudsqlproxy.ProbeTiming{}
	if s == "" || s == "default" {
		return nil
	}
	seen := map[string]bool{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return fmt.Errorf("%q is not KEY=SECONDS (keys: delay, period, timeout, failure)", kv)
		}
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return fmt.Errorf("%s=%s: not an integer", k, v)
		}
		if seen[k] {
			return fmt.Errorf("%s given twice", k)
		}
		seen[k] = true
		switch k {
		case "delay":
			p.t.InitialDelaySeconds = int32(n)
		case "period":
			p.t.PeriodSeconds = int32(n)
		case "timeout":
			p.t.TimeoutSeconds = int32(n)
		case "failure":
			p.t.FailureThreshold = int32(n)
		default:
			return fmt.Errorf("unknown key %q (keys: delay, period, timeout, failure)", k)
		}
	}
	return nil
}

// appEnvList is the repeatable --app-env INSTANCE:host=NAME,port=NAME,socket=NAME.
type appEnvList []appEnvFlag

type appEnvFlag struct {
	instance string
	env      cloudsqlproxy.AppEnv
}

func (a *appEnvList) String() string { return "" }
func (a *appEnvList) Set(s string) error {
	// The connection name has colons of its own: the instance ends at the
	// last colon before the first "=".
	eq := strings.IndexByte(s, '=')
	if eq < 0 {
		return errors.New("want INSTANCE:host=NAME,port=NAME,socket=NAME")
	}
	colon := strings.LastIndexByte(s[:eq], ':')
	if colon <= 0 {
		return errors.New("want INSTANCE:host=NAME,port=NAME,socket=NAME")
	}
	var env cloudsqlproxy.AppEnv
	seen := map[string]bool{}
	for _, kv := range strings.Split(s[colon+1:], ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || v == "" {
			return fmt.Errorf("%q is not KEY=NAME (keys: host, port, socket)", kv)
		}
		if seen[k] {
			return fmt.Errorf("%s given twice", k)
		}
		seen[k] = true
		switch k {
		case "host":
			env.Host = v
		case "port":
			env.Port = v
		case "socket":
			env.Socket = v
		default:
			return fmt.Errorf("unknown key %q (keys: host, port, socket)", k)
		}
	}
	*a = append(*a, appEnvFlag{s[:colon], env})
	return nil
}
