package e2e

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/podspec/cloudsqlproxy"
)

// TestRefusalsMatchTheAPIServer backs the refusals of New and Attach that exist
// because the API server would reject the result: each pod is valid without the
// proxy, the library refuses it, and the pod it would have made (built here
// around the refusal) is rejected by the in-process API server for the reason
// the library gives.
func TestRefusalsMatchTheAPIServer(t *testing.T) {
	const inst = "my-project:us-central1:db"
	mustNew := func(t *testing.T, opts ...cloudsqlproxy.Option) *cloudsqlproxy.Proxy {
		t.Helper()
		p, err := cloudsqlproxy.New(inst, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	attached := func(t *testing.T, p *cloudsqlproxy.Proxy, spec corev1.PodSpec) corev1.PodSpec {
		t.Helper()
		if err := p.Attach(&spec); err != nil {
			t.Fatal(err)
		}
		return spec
	}
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
				spec = attached(t, mustNew(t), spec)
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
				spec := attached(t, mustNew(t, cloudsqlproxy.WithUnixSocket("/cloudsql")), appPodSpec(corev1.RestartPolicyAlways))
				withBlockDevice(&spec, "/cloudsql")
				return spec
			},
			apiSays: `spec.containers[0].volumeMounts[0].mountPath: Invalid value: "/cloudsql": must not already exist as a path in volumeDevices`,
		},
		{
			name: "socket directory at the credentials key's",
			pod:  func() corev1.PodSpec { return appPodSpec(corev1.RestartPolicyAlways) },
			refuse: func(t *testing.T, spec corev1.PodSpec) error {
				_, err := cloudsqlproxy.New(inst, cloudsqlproxy.WithUnixSocket("/var/run/secrets/cloudsql"), cloudsqlproxy.WithCredentialsSecret("sa-key"))
				return err
			},
			made: func(t *testing.T) corev1.PodSpec {
				// The same proxy with its sockets one directory over, moved back.
				const elsewhere = "/var/run/secrets/cloudsql-moved"
				spec := attached(t, mustNew(t, cloudsqlproxy.WithUnixSocket(elsewhere), cloudsqlproxy.WithCredentialsSecret("sa-key")), appPodSpec(corev1.RestartPolicyAlways))
				for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
					for i := range cs {
						for j := range cs[i].Args {
							cs[i].Args[j] = strings.ReplaceAll(cs[i].Args[j], elsewhere, "/var/run/secrets/cloudsql")
						}
						for j := range cs[i].VolumeMounts {
							if cs[i].VolumeMounts[j].MountPath == elsewhere {
								cs[i].VolumeMounts[j].MountPath = "/var/run/secrets/cloudsql"
							}
						}
					}
				}
				return spec
			},
			apiSays: `mountPath: Invalid value: "/var/run/secrets/cloudsql": must be unique`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := func(spec corev1.PodSpec) *corev1.Pod {
				return &corev1.Pod{TypeMeta: tm("v1", "Pod"), ObjectMeta: metaNamed("refused"), Spec: spec}
			}
			if err := ValidatePod(pod(tt.pod())); err != nil {
				t.Fatalf("the pod without the proxy is not valid:\n%v", err)
			}
			err := tt.refuse(t, tt.pod())
			if !errors.Is(err, cloudsqlproxy.ErrConflict) && !errors.Is(err, cloudsqlproxy.ErrInvalidConfig) {
				t.Errorf("the library did not refuse: %v", err)
			}
			checkRejected(t, "ValidatePod", ValidatePod(pod(tt.made(t))), tt.apiSays)
		})
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
