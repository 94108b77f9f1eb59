package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/podspec/cloudsqlproxy"
	"github.com/podspec/cloudsqlproxy/internal/flagtab"
)

// Help sections of the proxy flags.
const (
	secInstances = "Database instances"
	secAuth      = "Authentication and API"
	secContainer = "Proxy container"
	secBehaviour = "Proxy behaviour"
	secTelemetry = "Telemetry"
)

// proxyFlag is a flag of the command that sets one of the proxy's flags
// through the library's option for it. The command's name, help and
// section are its own; what the flag means to the proxy (its kind, its
// option, how its value becomes the option) is the library's entry, lib.
type proxyFlag struct {
	name    string // the command's flag, without dashes
	proxy   string // the proxy's flag it sets
	arg     string // the value's name in the help; "" for a switch
	usage   string // help text, one line per "\n"; {values} stands for lib.Values
	section string // the help section
	lib     flagtab.Flag
}

// proxyFlags are the command's flags for the library's proxy flags, in the
// library's order, which the help keeps within each section.
var proxyFlags = []proxyFlag{
	{name: "quiet", proxy: "quiet", section: secBehaviour, usage: "log errors only"},
	{name: "debug-logs", proxy: "debug-logs", section: secBehaviour, usage: "log at debug level"},
	{name: "health-port", proxy: "http-port", arg: "N", section: secContainer,
		usage: "port of the health checks, on 0.0.0.0 and named\n" + cloudsqlproxy.HealthPortName + " (default " + itoa(cloudsqlproxy.DefaultHealthPort) + ")"},
	{name: "prometheus", proxy: "prometheus", section: secTelemetry, usage: "serve Prometheus metrics at /metrics on the health port"},
	{name: "prometheus-namespace", proxy: "prometheus-namespace", arg: "NS", section: secTelemetry, usage: "prefix of those metric names"},
	{name: "port", proxy: "port", arg: "N", section: secInstances,
		usage: "TCP port of the first instance (default " + itoa(cloudsqlproxy.DefaultPort) + "); a\nfurther instance without ?port= gets the previous\ninstance's port + 1"},
	{name: "listen-address", proxy: "address", arg: "IP", section: secInstances,
		usage: "address the listeners bind (default 127.0.0.1;\n0.0.0.0 opens the database to anyone who reaches\nthe pod IP)"},
	{name: "unix-socket", proxy: "unix-socket", arg: "DIR", section: secInstances,
		usage: "serve Unix sockets in DIR instead of TCP; DIR is an\nemptyDir mounted into every application container"},
	{name: "private-ip", proxy: "private-ip", section: secInstances, usage: "connect over private IP"},
	{name: "psc", proxy: "psc", section: secInstances, usage: "connect over Private Service Connect"},
	{name: "auto-ip", proxy: "auto-ip", section: secInstances,
		usage: "connect to the first IP the SQL Admin API lists (v1's\nbehaviour; prefer --private-ip)"},
	{name: "auto-iam-authn", proxy: "auto-iam-authn", section: secInstances, usage: "log in to the database as the pod's IAM principal"},
	{name: "impersonate", proxy: "impersonate-service-account", arg: "EMAIL[,EMAIL...]", section: secAuth,
		usage: "act as the first service account of the chain,\nreached through the others from the last one back"},
	{name: "lazy-refresh", proxy: "lazy-refresh", section: secBehaviour, usage: "refresh certificates only when a connection needs one"},
	{name: "max-connections", proxy: "max-connections", arg: "N", section: secBehaviour, usage: "cap on open connections (default 0: no cap)"},
	{name: "min-sigterm-delay", proxy: "min-sigterm-delay", arg: "D", section: secBehaviour, usage: "keep accepting connections for D after SIGTERM"},
	{name: "max-sigterm-delay", proxy: "max-sigterm-delay", arg: "D", section: secBehaviour, usage: "wait up to D for open connections after SIGTERM"},
	{name: "quitquitquit", proxy: "quitquitquit", section: secBehaviour,
		usage: "let the pod's containers stop the proxy with a call\nto localhost:ADMIN_PORT/quitquitquit"},
	{name: "debug-server", proxy: "debug", section: secBehaviour, usage: "serve pprof on the admin port"},
	{name: "admin-port", proxy: "admin-port", arg: "N", section: secContainer,
		usage: "port of the admin server on localhost (default " + itoa(cloudsqlproxy.DefaultAdminPort) + "),\nwhich runs with --quitquitquit, --debug-server and\n--job-timeout"},
	{name: "telemetry-project", proxy: "telemetry-project", arg: "PROJECT", section: secTelemetry, usage: "export metrics and traces to Google Cloud"},
	{name: "telemetry-prefix", proxy: "telemetry-prefix", arg: "P", section: secTelemetry, usage: "prefix of the exported metric names"},
	{name: "telemetry-sample-rate", proxy: "telemetry-sample-rate", arg: "N", section: secTelemetry, usage: "trace one request in N"},
	{name: "disable-metrics", proxy: "disable-metrics", section: secTelemetry, usage: "export no metrics"},
	{name: "disable-traces", proxy: "disable-traces", section: secTelemetry, usage: "export no traces"},
	{name: "sqladmin-api-endpoint", proxy: "sqladmin-api-endpoint", arg: "URL", section: secAuth, usage: "use another SQL Admin API endpoint"},
	{name: "universe-domain", proxy: "universe-domain", arg: "DOMAIN", section: secAuth, usage: "Google Cloud universe of a sovereign cloud"},
	{name: "user-agent", proxy: "user-agent", arg: "TEXT", section: secAuth, usage: "add TEXT to the proxy's User-Agent in its API calls"},
	{name: "quota-project", proxy: "quota-project", arg: "PROJECT", section: secAuth, usage: "bill SQL Admin API quota to PROJECT"},
	{name: "builtin-metrics", proxy: "enable-builtin-metrics", arg: "BOOL", section: secTelemetry,
		usage: "export the proxy's built-in client metrics to Cloud\nMonitoring in the instance's project (true or\nfalse; default: the proxy's, on since 2.27)"},
	{name: "compute-platform", proxy: "compute-platform", arg: "NAME", section: secTelemetry,
		usage: "compute_platform label of the built-in metrics\n({values})"},
	{name: "application-name", proxy: "application-name", arg: "NAME", section: secTelemetry,
		usage: "application_name label of the built-in metrics"},
}

// notOffered are the proxy flags that an option of the library sets and
// the command deliberately offers no flag for, with the reason.
var notOffered = map[string]string{}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

// The library's entry of each flag joins the command's: a flag the library
// no longer has is a programming error, which TestFlagTableDrift names.
func init() {
	lib := make(map[string]flagtab.Flag, len(flagtab.Flags))
	for _, f := range flagtab.Flags {
		lib[f.Proxy] = f
	}
	for i := range proxyFlags {
		f := &proxyFlags[i]
		l, ok := lib[f.proxy]
		if !ok {
			panic(fmt.Sprintf("cloudsqlproxy: --%s sets the proxy's --%s, which no option of the library sets", f.name, f.proxy))
		}
		f.lib = l
		f.usage = strings.ReplaceAll(f.usage, "{values}", strings.Join(l.Values, ", "))
	}
}
