package csqlpulumi_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	pcorev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	corev1 "k8s.io/api/core/v1"
	k8sresource "k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/podspec/cloudsqlproxy/csqlpulumi"
)

// richPod sets a field of nearly every type the converters take, beyond
// what the proxy uses, including set-but-zero pointers (readOnly: false)
// and empty objects (emptyDir: {}), which must survive.
func richPod() corev1.PodSpec {
	no, yes, uid, mode := false, true, int64(1000), int32(0o400)
	return corev1.PodSpec{
		Containers: []corev1.Container{{
			Name: "app", Image: "example.com/app:1", WorkingDir: "/srv", Stdin: true, TTY: true,
			Command: []string{"/app"}, Args: []string{"--x=$(Y)"},
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP, HostIP: "10.0.0.1"}},
			EnvFrom: []corev1.EnvFromSource{{Prefix: "P_", ConfigMapRef: &corev1.ConfigMapEnvSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}, Optional: &no}}},
			Env: []corev1.EnvVar{
				{Name: "A", Value: "1"},
				{Name: "B", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k"}}},
				{Name: "C", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
			},
			Resources: corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{"memory": mustQ("1Gi")},
				Requests: corev1.ResourceList{"cpu": mustQ("250m"), "memory": mustQ("512Mi")},
			},
			ResizePolicy: []corev1.ContainerResizePolicy{{ResourceName: "cpu", RestartPolicy: corev1.NotRequired}},
			VolumeMounts: []corev1.VolumeMount{{Name: "cfg", MountPath: "/cfg", ReadOnly: true, SubPath: "a"}},
			LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt(8080)}},
				PeriodSeconds: 7},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/r", Port: intstr.FromString("http"),
				HTTPHeaders: []corev1.HTTPHeader{{Name: "X", Value: "y"}}}}},
			StartupProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9000}}},
			Lifecycle:    &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sleep", "5"}}}},
			SecurityContext: &corev1.SecurityContext{RunAsUser: &uid, ReadOnlyRootFilesystem: &no, Privileged: &no,
				Capabilities:   &corev1.Capabilities{Add: []corev1.Capability{"NET_BIND_SERVICE"}, Drop: []corev1.Capability{"ALL"}},
				SELinuxOptions: &corev1.SELinuxOptions{Level: "s0:c1"}, SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
		}},
		Volumes: []corev1.Volume{
			{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}, Items: []corev1.KeyToPath{{Key: "a", Path: "a.txt", Mode: &mode}}}}},
			{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: ptrQ("64Mi")}}},
			{Name: "key", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s", DefaultMode: &mode, Optional: &yes}}},
			{Name: "proj", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: "vault", Path: "token"}},
				{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "labels",
					FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}}}}},
			}}}},
			{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "pvc", ReadOnly: true}}},
			{Name: "csi", VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{Driver: "secrets-store.csi.k8s.io", ReadOnly: &yes,
				VolumeAttributes: map[string]string{"secretProviderClass": "db"}}}},
		},
	}
}

// TestConvertersLoseNothing registers a pod converted field by field and
// reads it back: it must equal the k8s.io/api pod it came from.
func TestConvertersLoseNothing(t *testing.T) {
	want := richPod()
	m, err := run(t, func(ctx *pulumi.Context) error {
		var cs pcorev1.ContainerArray
		for _, c := range want.Containers {
			a, err := csqlpulumi.ToContainerArgs(c)
			if err != nil {
				return err
			}
			cs = append(cs, a)
		}
		var vs pcorev1.VolumeArray
		for _, v := range want.Volumes {
			a, err := csqlpulumi.ToVolumeArgs(v)
			if err != nil {
				return err
			}
			vs = append(vs, a)
		}
		_, err := pcorev1.NewPod(ctx, "rich", &pcorev1.PodArgs{Spec: &pcorev1.PodSpecArgs{Containers: cs, Volumes: vs}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var got corev1.Pod
	m.registered(t, "kubernetes:core/v1:Pod", "rich", &got)
	if diff := cmp.Diff(want, got.Spec); diff != "" {
		t.Errorf("pod read back (-want +got):\n%s", diff)
	}
}

// TestConvertersAreStrict: a set field without a conversion is an error
// naming its path, every one of them, never a silent drop.
func TestConvertersAreStrict(t *testing.T) {
	vol := corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{
		VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr("fast")}}}}}
	_, err := csqlpulumi.ToVolumeArgs(vol)
	if !errors.Is(err, csqlpulumi.ErrUnconvertible) || !strings.Contains(err.Error(), "volume.ephemeral: set, but its type v1.EphemeralVolumeSource has no conversion") {
		t.Errorf("ToVolumeArgs(ephemeral) = %v, want ErrUnconvertible naming volume.ephemeral", err)
	}

	c := corev1.Container{Name: "app", Env: []corev1.EnvVar{{Name: "A", Value: "1"}, {Name: "B", ValueFrom: &corev1.EnvVarSource{}}},
		VolumeMounts: []corev1.VolumeMount{{Name: "v", MountPath: "/v"}}}
	c.Env[1].ValueFrom.ConfigMapKeyRef = &corev1.ConfigMapKeySelector{Key: "k"} // converts
	if _, err := csqlpulumi.ToContainerArgs(c); err != nil {
		t.Errorf("ToContainerArgs(%+v) = %v, want no error", c, err)
	}
	if diff := cmp.Diff("", errString(csqlpulumi.ToEnvVarArgs(corev1.EnvVar{Name: "A", Value: "$(B)"}))); diff != "" {
		t.Errorf("ToEnvVarArgs: (-want +got):\n%s", diff)
	}
}

func errString[T any](_ T, err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func ptr[T any](v T) *T { return &v }

func ptrQ(s string) *k8sresource.Quantity { q := mustQ(s); return &q }

// futureVolumeMount stands for a VolumeMount of a k8s.io/api newer than
// the SDK, with a field pulumi-kubernetes does not know.
type futureVolumeMount struct {
	corev1.VolumeMount `json:",inline"`
	FutureField        string `json:"futureField,omitempty"`
}

// TestFutureFieldIsAnError: the converters walk every field of the
// k8s.io/api value, so one added after this code was written is reported
// when set, and harmless when not.
func TestFutureFieldIsAnError(t *testing.T) {
	mount := corev1.VolumeMount{Name: "v", MountPath: "/v"}
	for _, tt := range []struct {
		name, field, wantErr string
	}{
		{"unset", "", ""},
		{"set", "x", `csqlpulumi: field has no conversion to pulumi-kubernetes: volumeMount.futureField: set, but pulumi-kubernetes' VolumeMountArgs has no field "futureField"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := csqlpulumi.ConvertTo[pcorev1.VolumeMountArgs]("volumeMount", futureVolumeMount{mount, tt.field})
			if diff := cmp.Diff(tt.wantErr, errString(0, err)); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}
