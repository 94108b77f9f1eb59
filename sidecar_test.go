package cloudsqlproxy

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

// accessorCases are option sets that exercise every part Attach adds: each
// mode, app env of every kind, the socket volume and mounts, the key-file
// Secret, and a value that the kubelet would expand without escaping.
var accessorCases = []struct {
	name string
	inst string
	opts []Option
}{
	{"default", "my-project:us-central1:db", nil},
	{"native, app env, credentials", "my-project:us-central1:db", []Option{
		WithCredentialsSecret("sa-key"),
		WithAppEnv("my-project:us-central1:db", AppEnv{Host: "DB_HOST", Port: "DB_PORT"})}},
	{"legacy, app env", "my-project:us-central1:db", []Option{
		WithLegacySidecar(), WithAppEnv("my-project:us-central1:db", AppEnv{Host: "DB_HOST", Port: "DB_PORT"})}},
	{"job without timeout", "my-project:us-central1:db", []Option{ForJob(0)}},
	{"job with timeout", "my-project:us-central1:db", []Option{ForJob(90 * time.Second)}},
	{"unix socket, two instances", "my-project:us-central1:db", []Option{
		WithInstance("my-project:europe-west1:other"), WithUnixSocket("/cloudsql"),
		WithAppEnv("my-project:us-central1:db", AppEnv{Socket: "DB_SOCKET"}),
		WithAppEnv("my-project:europe-west1:other", AppEnv{Socket: "OTHER_SOCKET"})}},
	{"DNS instance, $ in the socket path", "prod-db.example.com", []Option{
		WithUnixSocket("/cloud$sql"), WithAppEnv("prod-db.example.com", AppEnv{Socket: "DB_SOCKET"})}},
}

// accessorPod has what Attach has to wire around: an init container, two
// app containers, the pod's own env, mounts and volumes.
func accessorPod() corev1.PodSpec {
	return corev1.PodSpec{
		RestartPolicy:  corev1.RestartPolicyOnFailure, // Job mode refuses Always
		InitContainers: []corev1.Container{{Name: "migrate", Image: "example.com/migrate:1"}},
		Containers: []corev1.Container{
			{Name: "app", Image: "example.com/app:1", Env: []corev1.EnvVar{{Name: "LOG", Value: "debug"}},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}},
			{Name: "worker", Image: "example.com/worker:1"},
		},
		Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
	}
}

// TestAccessorsDescribeAttach assembles the pod from the accessors alone,
// the way a caller with its own pod types would, and requires exactly what
// Attach builds.
func TestAccessorsDescribeAttach(t *testing.T) {
	for _, tt := range accessorCases {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.inst, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			got := accessorPod()
			if err := p.Attach(&got); err != nil {
				t.Fatal(err)
			}
			want := accessorPod()
			wire := func(cs []corev1.Container) {
				for i := range cs {
					cs[i].Env = append(cs[i].Env, p.AppEnv()...)
					cs[i].VolumeMounts = append(cs[i].VolumeMounts, p.AppVolumeMounts()...)
				}
			}
			wire(want.Containers)
			if p.NativeSidecar() {
				wire(want.InitContainers)
				want.InitContainers = append([]corev1.Container{p.Container()}, want.InitContainers...)
			} else {
				want.Containers = append([]corev1.Container{p.Container()}, want.Containers...)
			}
			want.Volumes = append(want.Volumes, p.Volumes()...)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("pod assembled from the accessors differs from Attach's (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAccessorsValues pins what the accessors return for the modes, so that
// a case where both the accessors and Attach lost a part still fails.
func TestAccessorsValues(t *testing.T) {
	mount := []corev1.VolumeMount{{Name: "cloudsql-proxy-sockets", MountPath: "/cloud$sql"}}
	for _, tt := range []struct {
		name   string
		inst   string
		opts   []Option
		native bool
		env    []corev1.EnvVar
		mounts []corev1.VolumeMount
	}{
		{"default", "my-project:us-central1:db", nil, true, nil, nil},
		{"legacy", "my-project:us-central1:db", []Option{WithLegacySidecar(), WithPort(6000),
			WithAppEnv("my-project:us-central1:db", AppEnv{Host: "H", Port: "P"})}, false,
			[]corev1.EnvVar{{Name: "H", Value: "127.0.0.1"}, {Name: "P", Value: "6000"}}, nil},
		{"job", "my-project:us-central1:db", []Option{ForJob(0), WithAdminPort(9200)}, false,
			[]corev1.EnvVar{{Name: QuitURLsEnv, Value: "http://localhost:9200/quitquitquit"}}, nil},
		{"socket with $", "prod-db.example.com", []Option{WithUnixSocket("/cloud$sql"),
			WithAppEnv("prod-db.example.com", AppEnv{Socket: "S"})}, true,
			[]corev1.EnvVar{{Name: "S", Value: "/cloud$$sql/prod-db.example.com"}}, mount},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.inst, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if p.NativeSidecar() != tt.native {
				t.Errorf("NativeSidecar() = %v, want %v", p.NativeSidecar(), tt.native)
			}
			if diff := cmp.Diff(tt.env, p.AppEnv()); diff != "" {
				t.Errorf("AppEnv (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.mounts, p.AppVolumeMounts()); diff != "" {
				t.Errorf("AppVolumeMounts (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAccessorsReturnCopies: a Proxy is shared between goroutines and
// pods, so a caller changing a result must not change the next one.
func TestAccessorsReturnCopies(t *testing.T) {
	p, err := New("my-project:us-central1:db", WithUnixSocket("/cloudsql"),
		WithAppEnv("my-project:us-central1:db", AppEnv{Socket: "S"}))
	if err != nil {
		t.Fatal(err)
	}
	wantEnv, wantMounts, wantVols := p.AppEnv(), p.AppVolumeMounts(), p.Volumes()
	env, mounts, vols := p.AppEnv(), p.AppVolumeMounts(), p.Volumes()
	env[0].Value = "changed"
	mounts[0].MountPath = "/changed"
	vols[0].EmptyDir.Medium = corev1.StorageMediumMemory
	if diff := cmp.Diff(wantEnv, p.AppEnv()); diff != "" {
		t.Errorf("AppEnv changed through a result (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantMounts, p.AppVolumeMounts()); diff != "" {
		t.Errorf("AppVolumeMounts changed through a result (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantVols, p.Volumes()); diff != "" {
		t.Errorf("Volumes changed through a result (-want +got):\n%s", diff)
	}
}
