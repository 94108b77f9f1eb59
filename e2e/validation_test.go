package e2e

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/podspec/cloudsqlproxy"
)

// TestGeneratedWorkloadsValidate runs every generated workload (each mode, each option
// case, each workload kind the mode is meant for) through the API server's own create path
// and Pod Security "restricted", in-process, plus our own checks: zero errors, zero
// warnings, zero violations.
func TestGeneratedWorkloadsValidate(t *testing.T) {
	wls := generatedWorkloads(t)
	if len(wls) < len(modes)*len(optionCases)*3 {
		t.Fatalf("only %d workloads generated", len(wls))
	}
	for _, w := range wls {
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			if err := ValidateObject(w.obj); err != nil {
				t.Errorf("in-process kube-apiserver %s:\n%v", KubernetesVersion(), err)
			}
			if err := CheckPodSpec(podSpecOf(t, w.obj)); err != nil {
				t.Errorf("CheckPodSpec:\n%v", err)
			}
		})
	}
}

// brokenShapes are generated workloads mutated the way a regression in the library would
// break them. Each must be rejected by the layer named in want*: the in-process
// validation (apiserver or Pod Security), the real API server, and our own checks. A
// layer that let one through could not fail.
type brokenShape struct {
	name   string
	mode   string // modes[].name
	kind   string
	mutate func(spec *corev1.PodSpec, proxy *corev1.Container)
	// Substrings expected in the errors of each layer; "" means the layer accepts it.
	wantInProcess string
	wantServer    string // error or warning of the real API server
	wantOwn       string // CheckPodSpec
}

var brokenShapes = []brokenShape{
	{
		name: "probe on a non-sidecar init container", mode: "native", kind: "Pod",
		mutate:        func(_ *corev1.PodSpec, c *corev1.Container) { c.RestartPolicy = nil },
		wantInProcess: "may not be set for init containers without restartPolicy=Always",
		wantServer:    "may not be set for init containers without restartPolicy=Always",
	},
	{
		name: "dropped securityContext (Pod)", mode: "native", kind: "Pod",
		mutate:        func(_ *corev1.PodSpec, c *corev1.Container) { c.SecurityContext = nil },
		wantInProcess: `pod security "restricted:latest": allowPrivilegeEscalation != false`,
		wantServer:    `violates PodSecurity "restricted:latest"`,
	},
	{
		name: "dropped securityContext (Deployment)", mode: "legacy", kind: "Deployment",
		mutate:        func(_ *corev1.PodSpec, c *corev1.Container) { c.SecurityContext = nil },
		wantInProcess: `pod security "restricted:latest": allowPrivilegeEscalation != false`,
		wantServer:    `would violate PodSecurity "restricted:latest"`,
	},
	{
		name: "added capability (Job)", mode: "job", kind: "Job",
		mutate: func(_ *corev1.PodSpec, c *corev1.Container) {
			c.SecurityContext.Capabilities.Add = []corev1.Capability{"NET_RAW"}
		},
		wantInProcess: `pod security "restricted:latest": unrestricted capabilities`,
		wantServer:    `would violate PodSecurity "restricted:latest": unrestricted capabilities`,
	},
	{
		name: "probe naming an undeclared port", mode: "native", kind: "Deployment",
		mutate: func(_ *corev1.PodSpec, c *corev1.Container) {
			c.LivenessProbe.HTTPGet.Port = intstr.FromString("csql-nope")
		},
		wantOwn: "port csql-nope is not declared",
	},
	{
		name: "health port declared twice in the pod", mode: "legacy", kind: "StatefulSet",
		mutate: func(spec *corev1.PodSpec, c *corev1.Container) {
			for i := range spec.Containers {
				if spec.Containers[i].Name == "app" {
					spec.Containers[i].Ports = append(spec.Containers[i].Ports, corev1.ContainerPort{
						Name: "metrics", ContainerPort: c.Ports[0].ContainerPort, Protocol: corev1.ProtocolTCP})
				}
			}
		},
		wantInProcess: "duplicate port definition",
		wantServer:    "duplicate port definition",
		wantOwn:       "port 9801/TCP already declared",
	},
	{
		name: "health port name declared twice in the pod", mode: "native", kind: "Pod",
		mutate: func(spec *corev1.PodSpec, _ *corev1.Container) {
			spec.Containers[0].Ports = append(spec.Containers[0].Ports, corev1.ContainerPort{
				Name: "csql-health", ContainerPort: 8081, Protocol: corev1.ProtocolTCP})
		},
		wantInProcess: `duplicate port name "csql-health"`,
		wantServer:    `duplicate port name "csql-health"`,
		wantOwn:       `port name "csql-health" already declared`,
	},
	{
		// Stored, with a warning: the tier counts a warning as a rejection.
		name: "fractional bytes of memory", mode: "native", kind: "Deployment",
		mutate: func(_ *corev1.PodSpec, c *corev1.Container) {
			c.Resources.Requests[corev1.ResourceMemory] = resource.MustParse("10485760m")
		},
		wantInProcess: `fractional byte value "10485760m" is invalid`,
		wantServer:    `fractional byte value "10485760m" is invalid`,
	},
	{
		name: "unknown container restartPolicy", mode: "job", kind: "CronJob",
		mutate: func(_ *corev1.PodSpec, c *corev1.Container) {
			never := corev1.ContainerRestartPolicy("Sometimes")
			c.RestartPolicy = &never
		},
		wantInProcess: "restartPolicy",
		wantServer:    "restartPolicy",
	},
}

// brokenWorkload builds the shape's workload from the "defaults" case and mutates it.
func brokenWorkload(t *testing.T, b brokenShape) runtime.Object {
	t.Helper()
	var m mode
	for _, cand := range modes {
		if cand.name == b.mode {
			m = cand
		}
	}
	p, err := newProxy(m, optionCases[0], defaultPorts, false, false)
	if err != nil {
		t.Fatal(err)
	}
	obj := newWorkload(b.kind, dnsName("broken-"+b.name), m.job)
	spec := podSpecOf(t, obj)
	if err := p.Attach(spec); err != nil {
		t.Fatal(err)
	}
	var proxy *corev1.Container
	for _, list := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range list {
			if list[i].Name == p.Name() {
				proxy = &list[i]
			}
		}
	}
	b.mutate(spec, proxy)
	return obj
}

func TestBrokenShapesAreRejectedInProcess(t *testing.T) {
	for _, b := range brokenShapes {
		t.Run(b.name, func(t *testing.T) {
			obj := brokenWorkload(t, b)
			checkRejected(t, "in-process validation", ValidateObject(obj), b.wantInProcess)
			checkRejected(t, "CheckPodSpec", CheckPodSpec(podSpecOf(t, obj)), b.wantOwn)
		})
	}
}

func checkRejected(t *testing.T, layer string, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("%s: unexpected error: %v", layer, err)
	case want != "" && err == nil:
		t.Errorf("%s accepted the broken shape, want an error mentioning %q", layer, want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("%s: error does not mention %q:\n%v", layer, want, err)
	}
}

// TestHandWrittenPods pins the in-process layer and CheckPodSpec on pods written out by
// hand, independent of the library: a pod both accept, and one that each rejects.
func TestHandWrittenPods(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	good := func() *corev1.Pod {
		spec := appPodSpec(corev1.RestartPolicyAlways)
		sidecar := corev1.Container{
			Name: "proxy", Image: "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.25.3",
			RestartPolicy:   &always,
			Ports:           []corev1.ContainerPort{{Name: "health", ContainerPort: 9801}},
			StartupProbe:    &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/startup", Port: intstr.FromString("health")}}},
			SecurityContext: restricted(),
		}
		spec.InitContainers = append([]corev1.Container{sidecar}, spec.InitContainers...)
		return podNamed("hand-written", spec)
	}
	tests := []struct {
		name          string
		mutate        func(*corev1.Pod)
		wantValidate  string
		wantCheckSpec string
	}{
		{name: "valid", mutate: func(*corev1.Pod) {}},
		{name: "missing image", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" },
			wantValidate: "spec.containers[0].image: Required value"},
		{name: "root allowed", mutate: func(p *corev1.Pod) { p.Spec.SecurityContext.RunAsNonRoot = nil },
			wantValidate: "runAsNonRoot != true"},
		{name: "named port unknown", mutate: func(p *corev1.Pod) {
			p.Spec.InitContainers[0].StartupProbe.HTTPGet.Port = intstr.FromString("nope")
		}, wantCheckSpec: "initContainers[0] (\"proxy\").startupProbe.httpGet.port: port nope is not declared"},
		{name: "numeric port undeclared", mutate: func(p *corev1.Pod) {
			p.Spec.InitContainers[0].StartupProbe.HTTPGet.Port = intstr.FromInt32(9090)
		}, wantCheckSpec: "port 9090 is not declared"},
		{name: "same port in two containers", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{ContainerPort: 9801})
		}, wantValidate: "duplicate port definition", wantCheckSpec: "port 9801/TCP already declared by initContainers[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := good()
			tt.mutate(p)
			checkRejected(t, "ValidatePod", ValidatePod(p), tt.wantValidate)
			checkRejected(t, "CheckPodSpec", CheckPodSpec(&p.Spec), tt.wantCheckSpec)
		})
	}
}

// TestValidateKnowsEveryWorkloadKind: ValidateObject finds its way through every kind the
// library accepts, an empty one of each included, to the pod spec PodSpecOf finds.
func TestValidateKnowsEveryWorkloadKind(t *testing.T) {
	for _, k := range cloudsqlproxy.WorkloadKinds() {
		obj := k.New()
		c, _, podMeta, spec, err := prepare(obj)
		if err != nil {
			t.Errorf("%s: %v", k.Kind, err)
			continue
		}
		if want, _ := cloudsqlproxy.PodSpecOf(obj); spec != want || podMeta == nil || c.s == nil {
			t.Errorf("%s: prepare found pod spec %p (want %p), pod metadata %p, strategy %v", k.Kind, spec, want, podMeta, c.s)
		}
	}
}
