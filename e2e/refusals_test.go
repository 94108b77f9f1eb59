package e2e

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/podspec/cloudsqlproxy"
)

// TestRefusalsMatchTheAPIServer backs the refusals of New and Attach that exist
// because the API server would reject the result: each pod is valid without the
// proxy, the library refuses it, and the pod it would have made (built here
// around the refusal) is rejected by the in-process API server for the reason
// the library gives.
func TestRefusalsMatchTheAPIServer(t *testing.T) {
	tests := []struct {
		name string
		// pod is valid without the proxy; refuse is what the library says
		// about it; made is the pod the library would have made.
		pod     func() corev1.PodSpec
		refuse  func(t *testing.T, spec corev1.PodSpec) error
		made    func(t *testing.T) corev1.PodSpec
		apiSays string
	}{
		{
			name:   "Windows pod",
			pod:    windowsAppPodSpec,
			refuse: func(t *testing.T, spec corev1.PodSpec) error { return mustNew(t).Attach(&spec) },
			made: func(t *testing.T) corev1.PodSpec {
				spec := windowsAppPodSpec()
				spec.OS = nil
				spec = attached(t, spec)
				spec.OS = &corev1.PodOS{Name: corev1.Windows}
				return spec
			},
			apiSays: "spec.initContainers[0].securityContext.seccompProfile: Forbidden: cannot be set for a windows pod",
		},
		{
			name: "block device at the socket directory",
			pod: func() corev1.PodSpec {
				spec := appPodSpec(corev1.RestartPolicyAlways)
				withBlockDevice(&spec, "/cloudsql")
				return spec
			},
			refuse: func(t *testing.T, spec corev1.PodSpec) error {
				return mustNew(t, cloudsqlproxy.WithUnixSocket("/cloudsql")).Attach(&spec)
			},
			made: func(t *testing.T) corev1.PodSpec {
				spec := attached(t, appPodSpec(corev1.RestartPolicyAlways), cloudsqlproxy.WithUnixSocket("/cloudsql"))
				withBlockDevice(&spec, "/cloudsql")
				return spec
			},
			apiSays: `spec.containers[0].volumeMounts[0].mountPath: Invalid value: "/cloudsql": must not already exist as a path in volumeDevices`,
		},
		{
			name: "socket directory at the credentials key's",
			pod:  func() corev1.PodSpec { return appPodSpec(corev1.RestartPolicyAlways) },
			refuse: func(t *testing.T, spec corev1.PodSpec) error {
				_, err := cloudsqlproxy.New(refusedInstance, cloudsqlproxy.WithUnixSocket("/var/run/secrets/cloudsql"), cloudsqlproxy.WithCredentialsSecret("sa-key"))
				return err
			},
			made: func(t *testing.T) corev1.PodSpec {
				// The same proxy with its sockets one directory over, moved back.
				const elsewhere = "/var/run/secrets/cloudsql-moved"
				spec := attached(t, appPodSpec(corev1.RestartPolicyAlways), cloudsqlproxy.WithUnixSocket(elsewhere), cloudsqlproxy.WithCredentialsSecret("sa-key"))
				moveSocketDir(&spec, elsewhere, "/var/run/secrets/cloudsql")
				return spec
			},
			apiSays: `mountPath: Invalid value: "/var/run/secrets/cloudsql": must be unique`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := ValidatePod(podNamed("refused", tt.pod())); err != nil {
				t.Fatalf("the pod without the proxy is not valid:\n%v", err)
			}
			err := tt.refuse(t, tt.pod())
			if !errors.Is(err, cloudsqlproxy.ErrConflict) && !errors.Is(err, cloudsqlproxy.ErrInvalidConfig) {
				t.Errorf("the library did not refuse: %v", err)
			}
			checkRejected(t, "ValidatePod", ValidatePod(podNamed("refused", tt.made(t))), tt.apiSays)
		})
	}
}

// refusedInstance is the instance of the proxies these tests attach.
const refusedInstance = "my-project:us-central1:db"

func mustNew(t *testing.T, opts ...cloudsqlproxy.Option) *cloudsqlproxy.Proxy {
	t.Helper()
	p, err := cloudsqlproxy.New(refusedInstance, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// attached is spec with a proxy of opts attached.
func attached(t *testing.T, spec corev1.PodSpec, opts ...cloudsqlproxy.Option) corev1.PodSpec {
	t.Helper()
	if err := mustNew(t, opts...).Attach(&spec); err != nil {
		t.Fatal(err)
	}
	return spec
}

// moveSocketDir moves the proxy's socket directory from one path to another
// in every mount and argument of spec: the pod New would have made for a
// directory it refuses.
func moveSocketDir(spec *corev1.PodSpec, from, to string) {
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range cs {
			for j := range cs[i].Args {
				cs[i].Args[j] = strings.ReplaceAll(cs[i].Args[j], from, to)
			}
			for j := range cs[i].VolumeMounts {
				if cs[i].VolumeMounts[j].MountPath == from {
					cs[i].VolumeMounts[j].MountPath = to
				}
			}
		}
	}
}

// windowsAppPodSpec is appPodSpec for Windows nodes, without the Linux-only
// security settings the API server forbids there.
func windowsAppPodSpec() corev1.PodSpec {
	spec := appPodSpec(corev1.RestartPolicyAlways)
	spec.OS = &corev1.PodOS{Name: corev1.Windows}
	spec.SecurityContext.SeccompProfile = nil
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range cs {
			cs[i].SecurityContext = nil
		}
	}
	return spec
}

// withBlockDevice gives the application a raw block volume at path.
func withBlockDevice(spec *corev1.PodSpec, path string) {
	spec.Volumes = append(spec.Volumes, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}})
	spec.Containers[0].VolumeDevices = append(spec.Containers[0].VolumeDevices, corev1.VolumeDevice{Name: "data", DevicePath: path})
}

// TestPodLevelResourcesAgreeWithTheAPIServer: in a pod with pod-level
// resources, Attach accepts exactly the pods the API server accepts with the
// proxy in them. Each pod is attached to, and separately the proxy is put in
// it around the check (attached without the pod-level resources, which are
// then put back); the API server's verdict on that pod must be the library's.
func TestPodLevelResourcesAgreeWithTheAPIServer(t *testing.T) {
	q := resource.MustParse
	list := func(kv ...string) corev1.ResourceList {
		l := corev1.ResourceList{}
		for i := 0; i < len(kv); i += 2 {
			l[corev1.ResourceName(kv[i])] = q(kv[i+1])
		}
		return l
	}
	legacy := []cloudsqlproxy.Option{cloudsqlproxy.WithLegacySidecar()}
	tests := []struct {
		name        string
		opts        []cloudsqlproxy.Option
		pod         corev1.ResourceRequirements
		migrate     corev1.ResourceList  // the plain init container's requests
		app         corev1.ResourceList  // the application's requests
		wantRefusal string               // "" when Attach must accept
		restart     corev1.RestartPolicy // the pod's; Always when empty
	}{
		{name: "room for the proxy", pod: corev1.ResourceRequirements{Requests: list("cpu", "1", "memory", "1Gi")},
			app: list("cpu", "500m", "memory", "512Mi")},
		{name: "cpu request below the proxy's", pod: corev1.ResourceRequirements{Requests: list("cpu", "50m")},
			wantRefusal: `resources.requests[cpu]: Invalid value: "50m": the pod's containers would request 100m of cpu together, 100m of it by the proxy`},
		{name: "app and proxy above the request", pod: corev1.ResourceRequirements{Requests: list("memory", "1Gi")},
			app: list("memory", "1000Mi"), wantRefusal: "resources.requests[memory]"},
		{name: "memory limit only, below the proxy's request", pod: corev1.ResourceRequirements{Limits: list("memory", "64Mi")},
			wantRefusal: `resources.limits[memory]: Invalid value: "64Mi"`},
		{name: "memory limit only, with room", pod: corev1.ResourceRequirements{Limits: list("memory", "2Gi")},
			app: list("memory", "1Gi")},
		// The sidecar runs beside the migration: 100m + 900m fits 1 exactly,
		// 100m + 950m does not, though the app alone (100m + 0) would.
		{name: "migration beside the sidecar, exactly", pod: corev1.ResourceRequirements{Requests: list("cpu", "1")},
			migrate: list("cpu", "900m")},
		{name: "migration beside the sidecar, over", pod: corev1.ResourceRequirements{Requests: list("cpu", "1")},
			migrate: list("cpu", "950m"), wantRefusal: "would request 1050m of cpu together"},
		// A legacy sidecar starts after the init containers: 950m + nothing.
		{name: "migration before a legacy sidecar", opts: legacy, pod: corev1.ResourceRequirements{Requests: list("cpu", "1")},
			migrate: list("cpu", "950m")},
		{name: "legacy proxy limit above the pod's", pod: corev1.ResourceRequirements{Requests: list("cpu", "1"), Limits: list("cpu", "1")},
			opts: append(legacy, cloudsqlproxy.WithResources(corev1.ResourceRequirements{
				Requests: list("cpu", "100m"), Limits: list("cpu", "2")})),
			wantRefusal: `resources.limits[cpu]: Invalid value: "1": the proxy "cloudsql-proxy" would have a cpu limit of 2, above the pod's`},
		{name: "Job-mode proxy beside the app", opts: []cloudsqlproxy.Option{cloudsqlproxy.ForJob(0)}, restart: corev1.RestartPolicyNever,
			pod: corev1.ResourceRequirements{Requests: list("cpu", "550m")}, app: list("cpu", "500m"),
			wantRefusal: "would request 600m of cpu together"},
		{name: "Job-mode proxy after the migration", opts: []cloudsqlproxy.Option{cloudsqlproxy.ForJob(0)}, restart: corev1.RestartPolicyNever,
			pod: corev1.ResourceRequirements{Requests: list("cpu", "1")}, migrate: list("cpu", "1"), app: list("cpu", "900m")},
		{name: "native proxy limit above the pod's", pod: corev1.ResourceRequirements{Requests: list("cpu", "1"), Limits: list("cpu", "1")},
			opts: []cloudsqlproxy.Option{cloudsqlproxy.WithResources(corev1.ResourceRequirements{
				Requests: list("cpu", "100m"), Limits: list("cpu", "2")})}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustNew(t, tt.opts...)
			restart := tt.restart
			if restart == "" {
				restart = corev1.RestartPolicyAlways
			}
			base := appPodSpec(restart)
			base.InitContainers[0].Resources.Requests = tt.migrate
			base.Containers[0].Resources.Requests = tt.app
			base.Resources = &tt.pod
			if err := ValidatePod(podNamed("pod-level", base)); err != nil {
				t.Fatalf("the pod without the proxy is not valid:\n%v", err)
			}

			spec := *base.DeepCopy()
			err := p.Attach(&spec)
			switch {
			case tt.wantRefusal == "" && err != nil:
				t.Errorf("Attach refused: %v", err)
			case tt.wantRefusal != "" && !errors.Is(err, cloudsqlproxy.ErrConflict):
				t.Errorf("Attach = %v, want a conflict mentioning %q", err, tt.wantRefusal)
			case tt.wantRefusal != "" && !strings.Contains(err.Error(), tt.wantRefusal):
				t.Errorf("Attach error does not mention %q:\n%v", tt.wantRefusal, err)
			}

			made := *base.DeepCopy()
			made.Resources = nil
			if err := p.Attach(&made); err != nil {
				t.Fatal(err)
			}
			made.Resources = &tt.pod
			verdict := ValidatePod(podNamed("pod-level", made))
			if (verdict == nil) != (tt.wantRefusal == "") {
				t.Errorf("the API server's verdict on the pod with the proxy: %v; the library's refusal: %q", verdict, tt.wantRefusal)
			}
		})
	}
}
