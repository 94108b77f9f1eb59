// Command cloudsqlproxy adds the Cloud SQL Auth Proxy to the Kubernetes
// workloads of YAML and JSON manifests, for people who deploy with kubectl,
// Helm or kustomize rather than write Go:
//
//	helm template ./chart \
//	  | cloudsqlproxy inject --instance my-project:us-central1:db -f - \
//	  | kubectl apply -f -
//
// It is a thin layer over [github.com/podspec/cloudsqlproxy]: every flag is
// one of the library's options, and the library builds and attaches the
// container. Run "cloudsqlproxy help inject" for the flags.
//
// # Exit status
//
// 0 on success; 1 on an input, manifest or configuration error, with every
// problem on standard error and nothing on standard output; 2 on a usage
// error.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/podspec/cloudsqlproxy"
	"github.com/podspec/cloudsqlproxy/cmd/cloudsqlproxy/internal/yamledit"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the whole command, minus the process: tests call it directly.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, mainUsage)
		return exitUsage
	}
	switch cmd := args[0]; cmd {
	case "inject":
		return transform(inject, args[1:], stdin, stdout, stderr)
	case "remove":
		return transform(remove, args[1:], stdin, stdout, stderr)
	case "version":
		if len(args) > 1 {
			return usageError(stderr, "version", fmt.Sprintf("unexpected argument %q", args[1]))
		}
		fmt.Fprint(stdout, versionText())
		return exitOK
	case "help", "-h", "-help", "--help":
		if len(args) > 2 {
			return usageError(stderr, "", fmt.Sprintf("unexpected argument %q", args[2]))
		}
		if len(args) == 1 {
			fmt.Fprint(stdout, mainUsage)
			return exitOK
		}
		switch args[1] {
		case "inject":
			fmt.Fprint(stdout, injectHelp())
		case "remove":
			fmt.Fprint(stdout, removeHelp)
		case "version":
			fmt.Fprint(stdout, "Usage: cloudsqlproxy version\n\nPrints the version of this command, the proxy image it uses by default and\nthe Kubernetes API types it was built with.\n")
		default:
			return usageError(stderr, "", fmt.Sprintf("unknown command %q", args[1]))
		}
		return exitOK
	default:
		return usageError(stderr, "", fmt.Sprintf("unknown command %q", cmd))
	}
}

// usageError prints the problem and where to read more, on two lines.
func usageError(stderr io.Writer, cmd, msg string) int {
	name, help := "cloudsqlproxy", "cloudsqlproxy --help"
	if cmd != "" {
		name, help = "cloudsqlproxy "+cmd, "cloudsqlproxy "+cmd+" --help"
	}
	fmt.Fprintf(stderr, "%s: %s\nRun '%s' for usage.\n", name, msg, help)
	return exitUsage
}

// transform runs inject or remove.
func transform(a action, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "inject"
	if a == remove {
		cmd = "remove"
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	var f flags
	f.register(fs)
	filters := registerFilterFlags(fs)
	output := registerOutputFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			if a == inject {
				fmt.Fprint(stdout, injectHelp())
			} else {
				fmt.Fprint(stdout, removeHelp)
			}
			return exitOK
		}
		return usageError(stderr, cmd, doubleDash(err.Error()))
	}
	if fs.NArg() > 0 {
		return usageError(stderr, cmd, fmt.Sprintf("unexpected argument %q (files go after -f; flags go before arguments)", fs.Arg(0)))
	}
	f.set = map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	if err := f.check(); err != nil {
		return usageError(stderr, cmd, err.Error())
	}
	if err := output.check(f.files); err != nil {
		return usageError(stderr, cmd, err.Error())
	}
	t := &transformer{action: a, legacy: f.legacy, includeHelmTests: filters.includeHelmTests}
	if f.set["selector"] {
		sel, err := labels.Parse(f.selector)
		if err != nil {
			return usageError(stderr, cmd, fmt.Sprintf("invalid value %q for flag --selector: %v", f.selector, err))
		}
		t.selector = sel
	}
	for _, n := range f.names {
		nf, err := parseNameFilter(n)
		if err != nil {
			return usageError(stderr, cmd, err.Error())
		}
		t.names = append(t.names, nf)
	}

	pod, job, podOpts, jobOpts, errs := f.proxies()
	if len(errs) > 0 {
		fmt.Fprintf(stderr, "cloudsqlproxy %s: invalid configuration:\n", cmd)
		for _, e := range errs {
			fmt.Fprintf(stderr, "  %s\n", e)
		}
		return exitError
	}
	t.pod, t.job, t.podOpts, t.jobOpts = pod, job, podOpts, jobOpts
	t.instances, t.adopt, t.appNameFrom = f.instances, f.adopt, f.appNameFrom
	t.flagNames = f.namer()

	if output.inPlace {
		return t.inPlace(cmd, f.files, stderr)
	}
	docs, errs := yamledit.Read(f.files, stdin)
	out, docErrs := t.run(docs)
	errs = append(errs, docErrs...)
	if len(errs) > 0 {
		for _, e := range errs {
			fmt.Fprintf(stderr, "cloudsqlproxy %s: %s\n", cmd, e)
		}
		fmt.Fprintf(stderr, "cloudsqlproxy %s: %s; nothing was written\n", cmd, plural(len(errs), "error"))
		return exitError
	}
	for _, w := range t.warnings() {
		fmt.Fprintf(stderr, "cloudsqlproxy %s: %s\n", cmd, w)
	}
	if _, err := stdout.Write(out); err != nil {
		fmt.Fprintf(stderr, "cloudsqlproxy %s: writing the output: %v\n", cmd, err)
		return exitError
	}
	return exitOK
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// doubleDash shows flags in the flag package's messages the way the help
// spells them.
func doubleDash(msg string) string {
	for _, from := range []string{"defined: -", "flag -", "for -", "argument: -"} {
		msg = strings.Replace(msg, from, from+"-", 1)
	}
	return msg
}

// version is the main module's version as the Go toolchain recorded it:
// a tag for "go install ...@v1.2.3", "(devel)" for a local build.
func versionText() string {
	v, api := "(devel)", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, d := range bi.Deps {
			if d.Path == "k8s.io/api" {
				api = d.Version
				if d.Replace != nil {
					api = d.Replace.Version
				}
			}
		}
	}
	return fmt.Sprintf("cloudsqlproxy %s\ndefault proxy image: %s\nKubernetes API types: k8s.io/api %s (newer fields in manifests are kept as they are)\n",
		v, cloudsqlproxy.DefaultImage, api)
}

const mainUsage = `cloudsqlproxy adds the Cloud SQL Auth Proxy to the Kubernetes workloads of YAML
and JSON manifests, for deployments with kubectl, Helm or kustomize.

Usage:
  cloudsqlproxy inject --instance PROJECT:REGION:INSTANCE [flags] -f FILE
  cloudsqlproxy remove [flags] -f FILE
  cloudsqlproxy version
  cloudsqlproxy help [inject|remove|version]

Commands:
  inject    add the proxy to every Pod, Deployment, StatefulSet, DaemonSet,
            ReplicaSet, ReplicationController, PodTemplate, Job and CronJob
  remove    take out what inject added
  version   print the version and the default proxy image

Example:
  helm template ./chart \
    | cloudsqlproxy inject --instance my-project:us-central1:db -f - \
    | kubectl apply -f -

Run 'cloudsqlproxy help inject' for the flags.
`

const removeHelp = `Usage: cloudsqlproxy remove [flags] -f FILE...

Takes out of every workload what 'cloudsqlproxy inject' added, as the
record inject writes in the pod template's annotation
cloudsqlproxy.podspec.dev/status lists it: the proxy container, its volumes,
and the environment variables and mounts it set in the application
containers; a proxy that inject adopted is put back. No flags are needed,
and the output is the manifest as it was before inject, byte for byte where
inject could edit it in place, but for an adopted proxy: the record holds
the container it replaced as its fields, not its text, so that container,
and the volumes and mounts it used, come back meaning the same but in the
API's key order (in YAML, in block style), without the comments inside them
or fields this build's Kubernetes types do not know; every other line comes
back as it was. inject notes each adopted workload on standard error. A
workload whose record no longer matches it (edited by hand since) is an
error.

For a workload without a record (injected by an older version), give the
flags it was injected with: its variables and volumes are removed only
where they hold the values those flags set.

The input, the output, --selector, --name and the exit status are as for
inject; so are the flags ('cloudsqlproxy help inject').
`

// injectHelp documents every flag. The proxy flags come from proxyFlags,
// in its order, into their sections; the defaults it states are read from
// the library's container, so they cannot drift from what the command does.
func injectHelp() string {
	timing := func(p *corev1.Probe) string {
		return fmt.Sprintf("period=%d,timeout=%d,failure=%d", p.PeriodSeconds, p.TimeoutSeconds, p.FailureThreshold)
	}
	def := defaults()
	req := def.Resources.Requests
	pairs := []string{
		"{proxy-port}", strconv.Itoa(int(cloudsqlproxy.DefaultPort)),
		"{quit-env}", cloudsqlproxy.QuitURLsEnv,
		"{name}", cloudsqlproxy.DefaultName,
		"{image}", cloudsqlproxy.DefaultImage,
		"{cpu}", req.Cpu().String(),
		"{memory}", req.Memory().String(),
		"{startup}", timing(def.StartupProbe),
		"{liveness}", timing(def.LivenessProbe),
		"{readiness}", timing(def.ReadinessProbe),
	}
	for _, sec := range []string{secInstances, secAuth, secContainer, secBehaviour, secTelemetry} {
		var b strings.Builder
		for _, pf := range proxyFlags {
			if pf.section == sec {
				b.WriteString(helpEntry(pf))
			}
		}
		pairs = append(pairs, "{"+sec+"}\n", b.String())
	}
	return strings.NewReplacer(pairs...).Replace(injectHelpText)
}

// helpEntry lays out one flag as the help's other lines are: the flag in
// the first 28 columns, its text beside it or, when the flag is longer,
// below it.
func helpEntry(pf proxyFlag) string {
	const col = 28
	head := "      --" + pf.name
	if pf.arg != "" {
		head += " " + pf.arg
	}
	lines := strings.Split(pf.usage, "\n")
	var b strings.Builder
	if len(head) < col {
		b.WriteString(head + strings.Repeat(" ", col-len(head)) + lines[0] + "\n")
		lines = lines[1:]
	} else {
		b.WriteString(head + "\n")
	}
	for _, l := range lines {
		b.WriteString(strings.Repeat(" ", col) + l + "\n")
	}
	return b.String()
}

// defaults is the library's container with every default, a readiness
// probe included: the defaults the help states, and the requirements the
// resource flags are laid over.
func defaults() corev1.Container {
	p, err := cloudsqlproxy.New(placeholderInstance, cloudsqlproxy.WithReadinessProbe(cloudsqlproxy.ProbeTiming{}))
	if err != nil {
		panic(err) // the library's defaults are valid
	}
	return p.Container()
}

const injectHelpText = `Usage: cloudsqlproxy inject [--instance PROJECT:REGION:INSTANCE] [flags] -f FILE...

Adds the Cloud SQL Auth Proxy (v2) to every workload of the input and writes
the whole stream to standard output: Pods, Deployments, StatefulSets,
DaemonSets, ReplicaSets, ReplicationControllers, PodTemplates, Jobs and
CronJobs, also inside List objects. Every other document passes through
unchanged, in order.

The proxy runs as a native sidecar (Kubernetes 1.29 and newer): the first
init container, which the kubelet starts and waits for before anything else
in the pod, database migrations in init containers included. Applications
reach the database on 127.0.0.1:{proxy-port}. Running inject on its own output
changes nothing; running it with other flags updates the proxy in place.

Examples:
  cloudsqlproxy inject --instance my-project:us-central1:db -f deployment.yaml
  helm template ./chart \
    | cloudsqlproxy inject --instance my-project:us-central1:db -f - \
    | kubectl apply -f -

Input and output:
  -f, --filename FILE       manifest to read: YAML documents separated by ---
                            lines, or JSON objects; a directory means its .yaml,
                            .yml and .json files; - is standard input. Repeatable.
      --selector SELECTOR   only workloads whose labels match, as in
                            app=web,tier!=cache or 'env in (prod,staging)';
                            the labels of a workload's pod template count as
                            its own
      --name [NAMESPACE/]NAME
                            only the workload of this metadata.name (and, when
                            given, metadata.namespace). Repeatable; together
                            with --selector, both must match.
` + outputHelp + filterHelp + `
  The output is the input with the proxy added. A document the command
  changes keeps its text: comments, key order, indentation and quoting stay,
  and only the lines the proxy needs are inserted or removed (in flow style
  and JSON, only those members), in the document's own style; JSON stays
  JSON. remove on that output gives back the input byte for byte, but for a
  list the proxy fills that was null (or [] in JSON) and for what a note on
  standard error names (YAML aliases, merge keys, an adopted proxy, which
  comes back as its fields rather than its text: 'cloudsqlproxy help remove'). Fields newer than the
  Kubernetes types this command was built with are kept. An input (-f) that
  holds no object at all, only comments or nothing, is an error (with
  --in-place, a file of a directory that holds none is left unchanged). On
  any error nothing is written to standard output; with --in-place, nothing
  to the files that have one.

Database instances:
      --instance CONNECTION_NAME
                            PROJECT:REGION:INSTANCE to connect to, or a DNS
                            name whose TXT record holds it. Repeatable.
                            A query sets options of one instance:
                            'p:r:i?port=5433&private-ip=true' (keys: port,
                            private-ip, psc, auto-iam-authn)
{Database instances}

Application environment:
      --host-env NAME       set NAME in every application container to the
                            first instance's host (the listen address)
      --port-env NAME       ... to the first instance's port
      --socket-env NAME     ... to the first instance's socket path
                            (with --unix-socket)
      --app-env INSTANCE:host=NAME,port=NAME,socket=NAME
                            the same for any instance. Repeatable.

Mode (default: native sidecar):
      --adopt               keep the settings of a Cloud SQL proxy the workload
                            already runs (hand-written, v1 or v2, any name):
                            it is replaced by the library's proxy with its
                            instances, ports, flags and key file, the flags
                            given here winning (--instance replaces its
                            instances). Default true; --adopt=false refuses
                            such a workload instead. Without --instance, only
                            workloads that run a proxy are changed.
      --legacy-sidecar      for clusters older than 1.29: the proxy is the first
                            regular container, and a postStart hook holds the
                            others back until it listens. Init containers run
                            before it and cannot reach the database.
      --job-timeout DURATION
                            for Jobs and CronJobs on clusters older than 1.29:
                            the proxy is a regular container that exits when
                            the application calls the URL in ${quit-env},
                            or after DURATION (0s: only then). Other workloads
                            keep the native or legacy sidecar. Without this
                            flag Jobs get the native sidecar, which the kubelet
                            stops when the Job is done.

Authentication and API:
      --credentials-secret SECRET
                            authenticate with the service account key in Secret
                            SECRET instead of Workload Identity
      --credentials-secret-key KEY
                            key of that Secret holding the JSON key
                            (default credentials.json)
{Authentication and API}

Proxy container:
      --container-name NAME the proxy container's name (default {name})
      --image IMAGE         default {image}
                            (its -alpine variant with a --job-timeout above 0s)
      --proxy-version VERSION
                            proxy version of an --image whose tag does not
                            carry it, so options it lacks are still rejected
      --image-pull-policy POLICY
                            Always, IfNotPresent (default) or Never
      --cpu-request Q, --memory-request Q, --cpu-limit Q, --memory-limit Q
                            resources, as in 250m or 512Mi (default requests
                            cpu {cpu} and memory {memory}, no limits); each flag
                            replaces only its own default
{Proxy container}
      --startup-probe T, --liveness-probe T, --readiness-probe T
                            probe timings as delay=S,period=S,timeout=S,failure=N;
                            keys left out keep their defaults: startup
                            {startup}, liveness
                            {liveness}. There is no readiness
                            probe unless its flag is given ('default':
                            {readiness})

Proxy behaviour:
{Proxy behaviour}

Telemetry:
{Telemetry}
      --application-name-from-workload
                            set --application-name of each workload's proxy
                            to the workload's metadata.name, so that its
                            replicas share one series of built-in metrics

Exit status: 0 done; 1 an input, manifest or configuration error (all of them
on standard error, nothing on standard output; with --in-place, some file
failed and was left untouched); 2 a usage error.
`
