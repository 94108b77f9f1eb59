package cloudsqlproxy_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/podspec/cloudsqlproxy"
)

// TestAttachChecksOnlyContainersItWires: a native sidecar serves only the
// init containers after it (those before it run to completion before it
// starts), so Attach neither wires nor checks them. An init container
// before an existing proxy may use DB_HOST for something else; one after
// it, or any init container when the proxy is new (it goes first), may not.
func TestAttachChecksOnlyContainersItWires(t *testing.T) {
	p, err := cloudsqlproxy.New(limitsInst, cloudsqlproxy.WithAppEnv(limitsInst, cloudsqlproxy.AppEnv{Host: "DB_HOST", Port: "DB_PORT"}))
	if err != nil {
		t.Fatal(err)
	}
	proxy := p.Container()
	other := []corev1.EnvVar{{Name: "DB_HOST", Value: "10.0.0.5"}}
	wired := []corev1.EnvVar{{Name: "DB_HOST", Value: "127.0.0.1"}, {Name: "DB_PORT", Value: "5432"}}
	ctr := func(name string, env []corev1.EnvVar) corev1.Container {
		return corev1.Container{Name: name, Image: "example.com/app:1", Env: env}
	}
	tests := []struct {
		name     string
		init     []corev1.Container
		wantInit []corev1.Container // on success
		wantErr  []string           // the fields at fault, when Attach must refuse
	}{
		{
			name:     "conflict before the existing proxy",
			init:     []corev1.Container{ctr("early", other), proxy, ctr("migrate", nil)},
			wantInit: []corev1.Container{ctr("early", other), proxy, ctr("migrate", wired)},
		},
		{
			name:     "two before the existing proxy",
			init:     []corev1.Container{ctr("early", other), ctr("seed", other), proxy},
			wantInit: []corev1.Container{ctr("early", other), ctr("seed", other), proxy},
		},
		{
			name:    "conflict after the existing proxy",
			init:    []corev1.Container{ctr("early", other), proxy, ctr("migrate", other)},
			wantErr: []string{"initContainers[2].env[0].value"},
		},
		{
			name:    "conflict in a pod without the proxy",
			init:    []corev1.Container{ctr("early", other), ctr("migrate", nil)},
			wantErr: []string{"initContainers[0].env[0].value"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := corev1.PodSpec{InitContainers: tt.init, Containers: []corev1.Container{ctr("app", nil)}}
			before := spec.DeepCopy()
			err := p.Attach(&spec)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("Attach succeeded; init containers:\n%+v", spec.InitContainers)
				}
				if diff := cmp.Diff(tt.wantErr, fieldPaths(t, err, cloudsqlproxy.ErrConflict)); diff != "" {
					t.Errorf("fields at fault (-want +got):\n%s\nerror: %v", diff, err)
				}
				if diff := cmp.Diff(before, &spec); diff != "" {
					t.Errorf("a refused Attach changed the spec (-before +after):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatalf("Attach: %v", err)
			}
			if diff := cmp.Diff(tt.wantInit, spec.InitContainers); diff != "" {
				t.Errorf("init containers (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]corev1.Container{ctr("app", wired)}, spec.Containers); diff != "" {
				t.Errorf("containers (-want +got):\n%s", diff)
			}
		})
	}
}
