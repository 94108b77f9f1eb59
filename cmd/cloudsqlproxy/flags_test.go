package main

import (
	"flag"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/podspec/cloudsqlproxy"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestProbeFlag(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want cloudsqlproxy.ProbeTiming
		err  string
	}{
		{in: "", want: cloudsqlproxy.ProbeTiming{}},
		{in: "default", want: cloudsqlproxy.ProbeTiming{}},
		{in: "period=1,timeout=5,failure=60,delay=2", want: cloudsqlproxy.ProbeTiming{InitialDelaySeconds: 2, PeriodSeconds: 1, TimeoutSeconds: 5, FailureThreshold: 60}},
		{in: " period=3 , failure=-1", want: cloudsqlproxy.ProbeTiming{PeriodSeconds: 3, FailureThreshold: -1}},
		{in: "period", err: `"period" is not KEY=SECONDS (keys: delay, period, timeout, failure)`},
		{in: "period=1s", err: "period=1s: not an integer"},
		{in: "period=1,period=2", err: "period given twice"},
		{in: "success=1", err: `unknown key "success" (keys: delay, period, timeout, failure)`},
	} {
		var p probeFlag
		err := p.Set(tc.in)
		if got := errString(err); got != tc.err {
			t.Errorf("Set(%q) error %q, want %q", tc.in, got, tc.err)
		}
		if err == nil && p.t != tc.want {
			t.Errorf("Set(%q) = %+v, want %+v", tc.in, p.t, tc.want)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestAppEnvFlag(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want appEnvFlag
		err  string
	}{
		{in: "p:r:i:host=H,port=P", want: appEnvFlag{"p:r:i", cloudsqlproxy.AppEnv{Host: "H", Port: "P"}}},
		{in: "example.com:p:r:i:socket=S", want: appEnvFlag{"example.com:p:r:i", cloudsqlproxy.AppEnv{Socket: "S"}}},
		{in: "p:r:i:host=H, port=P, socket=S", want: appEnvFlag{"p:r:i", cloudsqlproxy.AppEnv{Host: "H", Port: "P", Socket: "S"}}},
		{in: "p:r:i", err: "want INSTANCE:host=NAME,port=NAME,socket=NAME"},
		{in: "host=H", err: "want INSTANCE:host=NAME,port=NAME,socket=NAME"},
		{in: "p:r:i:host=", err: `"host=" is not KEY=NAME (keys: host, port, socket)`},
		{in: "p:r:i:user=U", err: `unknown key "user" (keys: host, port, socket)`},
		{in: "p:r:i:host=A,host=B", err: "host given twice"},
	} {
		var a appEnvList
		err := a.Set(tc.in)
		if got := errString(err); got != tc.err {
			t.Errorf("Set(%q) error %q, want %q", tc.in, got, tc.err)
		}
		if err == nil {
			if diff := cmp.Diff(appEnvList{tc.want}, a, cmp.AllowUnexported(appEnvFlag{})); diff != "" {
				t.Errorf("Set(%q) (-want +got):\n%s", tc.in, diff)
			}
		}
	}
}

func TestNameFilter(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want nameFilter
		err  bool
	}{
		{in: "web", want: nameFilter{name: "web"}},
		{in: "prod/web", want: nameFilter{namespace: "prod", name: "web", hasNS: true}},
		{in: "", err: true},
		{in: "prod/", err: true},
		{in: "/web", err: true},
		{in: "a/b/c", err: true},
	} {
		got, err := parseNameFilter(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("parseNameFilter(%q) error %v, want error: %v", tc.in, err, tc.err)
		}
		if err == nil && got != tc.want {
			t.Errorf("parseNameFilter(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

// TestFlagNames: the library's option paths are named by the flags that set
// them in this run.
func TestFlagNames(t *testing.T) {
	fs := flag.NewFlagSet("inject", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var f flags
	f.register(fs)
	if err := fs.Parse([]string{"--instance", "p:r:a", "--instance", "p:r:b", "--instance", "p:r:c", "--instance", "p:r:d?ssl=x",
		"--impersonate", "a@p.iam.gserviceaccount.com,b@p.iam.gserviceaccount.com", "--port-env", "PORT", "--app-env", "p:r:b:host=H"}); err != nil {
		t.Fatal(err)
	}
	names := f.namer()
	for _, tc := range []struct {
		path *field.Path
		want string
	}{
		{field.NewPath("instance"), "--instance #1"},
		{field.NewPath("instance").Key("port"), "--instance #1 port"},
		{field.NewPath("WithInstance").Index(0), "--instance #2"},
		{field.NewPath("WithInstance").Index(2).Key("private-ip"), "--instance #4 private-ip"},
		{field.NewPath("WithInstance").Index(2).Key("ssl"), "--instance #4 ssl"},
		{field.NewPath("WithPort"), "--port"},
		{field.NewPath("WithName"), "--container-name"},
		{field.NewPath("WithUnixSocket"), "--unix-socket"},
		{field.NewPath("WithImpersonation"), "--impersonate"},
		{field.NewPath("WithImpersonation").Index(1), "--impersonate #2"},
		{field.NewPath("WithStartupProbe", "PeriodSeconds"), "--startup-probe period"},
		{field.NewPath("WithReadinessProbe", "FailureThreshold"), "--readiness-probe failure"},
		{field.NewPath("WithTelemetry", "SampleRate"), "--telemetry-sample-rate"},
		{field.NewPath("WithResources", "Limits").Key("memory"), "--memory-limit"},
		{field.NewPath("WithAppEnv").Index(0).Child("Port"), "--port-env"},
		{field.NewPath("WithAppEnv").Index(0).Child("instance"), "--host-env/--port-env/--socket-env (for the first --instance)"},
		{field.NewPath("WithAppEnv").Index(1).Child("Host"), "--app-env #1 host"},
		{field.NewPath("ForJob"), "--job-timeout"},
		{field.NewPath("FromContainer"), "--adopt"},
		{field.NewPath("WithInstance").Index(7), "WithInstance[7]"},
	} {
		if got := names.name(tc.path); got != tc.want {
			t.Errorf("name(%s) = %q, want %q", tc.path, got, tc.want)
		}
	}
}

// TestResourceFlags: each resource flag replaces only its own default.
func TestResourceFlags(t *testing.T) {
	fs := flag.NewFlagSet("inject", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var f flags
	f.register(fs)
	if err := fs.Parse([]string{"--memory-limit", "256Mi", "--cpu-request", "50m"}); err != nil {
		t.Fatal(err)
	}
	got, ok := f.resources()
	if !ok {
		t.Fatal("no resources from the resource flags")
	}
	want := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })); diff != "" {
		t.Errorf("resources (-want +got):\n%s", diff)
	}
	var none flags
	if _, ok := none.resources(); ok {
		t.Error("resources set without a resource flag")
	}
}
