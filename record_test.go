package cloudsqlproxy_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/podspec/cloudsqlproxy"
)

const recInst = "my-project:us-central1:db"

func recordApp() corev1.PodSpec {
	return corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "migrate", Image: "example.com/migrate:1"}},
		Containers: []corev1.Container{
			{Name: "web", Image: "example.com/web:1", Env: []corev1.EnvVar{{Name: "MODE", Value: "prod"}}},
			{Name: "worker", Image: "example.com/worker:1"},
		},
		Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
	}
}

func mustProxy(t *testing.T, opts ...cloudsqlproxy.Option) *cloudsqlproxy.Proxy {
	t.Helper()
	p, err := cloudsqlproxy.New(recInst, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAttachToDetachFromRoundTrip: DetachFrom, with no Proxy, gives back the
// pod and metadata exactly as they were before AttachTo, in every mode and
// with everything Attach wires into the other containers; attaching again
// with other options replaces the first attachment.
func TestAttachToDetachFromRoundTrip(t *testing.T) {
	for name, opts := range map[string][]cloudsqlproxy.Option{
		"defaults":    nil,
		"app env":     {cloudsqlproxy.WithAppEnv(recInst, cloudsqlproxy.AppEnv{Host: "DB_HOST", Port: "DB_PORT"})},
		"unix socket": {cloudsqlproxy.WithUnixSocket("/cloudsql"), cloudsqlproxy.WithAppEnv(recInst, cloudsqlproxy.AppEnv{Socket: "DB_SOCKET"}), cloudsqlproxy.WithCredentialsSecret("sa-key")},
		"legacy":      {cloudsqlproxy.WithLegacySidecar(), cloudsqlproxy.WithAppEnv(recInst, cloudsqlproxy.AppEnv{Host: "DB_HOST"})},
		"job":         {cloudsqlproxy.ForJob(0)},
		"other name":  {cloudsqlproxy.WithName("db-proxy")},
		"credentials": {cloudsqlproxy.WithCredentialsSecret("sa-key")},
	} {
		t.Run(name, func(t *testing.T) {
			spec := recordApp()
			spec.RestartPolicy = corev1.RestartPolicyNever
			meta := metav1.ObjectMeta{Name: "web", Annotations: map[string]string{"team": "shop"}}
			origSpec, origMeta := spec.DeepCopy(), meta.DeepCopy()
			p := mustProxy(t, opts...)
			if err := p.AttachTo(&meta, &spec); err != nil {
				t.Fatal(err)
			}
			if meta.Annotations[cloudsqlproxy.StatusAnnotation] == "" {
				t.Fatal("no record")
			}
			attached := spec.DeepCopy()
			// Attaching the same proxy again changes nothing.
			if err := p.AttachTo(&meta, &spec); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(attached, &spec); diff != "" {
				t.Errorf("AttachTo twice (-once +twice):\n%s", diff)
			}
			// Another proxy replaces it cleanly.
			other := mustProxy(t, cloudsqlproxy.WithPort(6000), cloudsqlproxy.WithAppEnv(recInst, cloudsqlproxy.AppEnv{Port: "PGPORT"}))
			if err := other.AttachTo(&meta, &spec); err != nil {
				t.Fatal(err)
			}
			want := origSpec.DeepCopy()
			if err := other.Attach(want); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, &spec); diff != "" {
				t.Errorf("re-attached with other options (-fresh attach +got):\n%s", diff)
			}
			found, err := cloudsqlproxy.DetachFrom(&meta, &spec)
			if err != nil || !found {
				t.Fatalf("DetachFrom = %v, %v", found, err)
			}
			if diff := cmp.Diff(origSpec, &spec); diff != "" {
				t.Errorf("spec after DetachFrom (-original +got):\n%s", diff)
			}
			if diff := cmp.Diff(origMeta, &meta); diff != "" {
				t.Errorf("meta after DetachFrom (-original +got):\n%s", diff)
			}
		})
	}
}

// TestDetachFromRestoresAnAdoptedProxy: a pod whose hand-written v1 proxy
// was adopted gets it back, with the Secret volume it used.
func TestDetachFromRestoresAnAdoptedProxy(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "adopt", "v1-sa-key.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Spec struct {
			Template corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	meta, spec := d.Spec.Template.ObjectMeta, d.Spec.Template.Spec
	origMeta, origSpec := meta.DeepCopy(), spec.DeepCopy()
	insts, opts, err := cloudsqlproxy.FromContainer(spec.Containers[1], spec.Volumes)
	if err != nil {
		t.Fatal(err)
	}
	p, err := cloudsqlproxy.New(insts[0], opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AttachTo(&meta, &spec); err != nil {
		t.Fatal(err)
	}
	if len(spec.Volumes) != 1 || spec.Volumes[0].Name != "cloudsql-proxy-credentials" || len(spec.InitContainers) != 1 {
		t.Fatalf("adopted pod: volumes %v, init containers %d", spec.Volumes, len(spec.InitContainers))
	}
	if _, err := cloudsqlproxy.DetachFrom(&meta, &spec); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(origSpec, &spec); diff != "" {
		t.Errorf("spec after DetachFrom (-original +got):\n%s", diff)
	}
	if diff := cmp.Diff(origMeta, &meta); diff != "" {
		t.Errorf("meta after DetachFrom (-original +got):\n%s", diff)
	}
}

// TestDetachFromRefusesAStaleRecord: a record that the pod no longer matches
// is an error naming what differs, and nothing changes.
func TestDetachFromRefusesAStaleRecord(t *testing.T) {
	for name, edit := range map[string]func(*metav1.ObjectMeta, *corev1.PodSpec){
		"not JSON": func(m *metav1.ObjectMeta, _ *corev1.PodSpec) { m.Annotations[cloudsqlproxy.StatusAnnotation] = "{" },
		"another writer": func(m *metav1.ObjectMeta, _ *corev1.PodSpec) {
			m.Annotations[cloudsqlproxy.StatusAnnotation] = `{"version":7}`
		},
		"proxy gone":        func(_ *metav1.ObjectMeta, s *corev1.PodSpec) { s.InitContainers = s.InitContainers[1:] },
		"env value changed": func(_ *metav1.ObjectMeta, s *corev1.PodSpec) { s.Containers[0].Env[1].Value = "10.0.0.1" },
		"negative position": func(m *metav1.ObjectMeta, _ *corev1.PodSpec) {
			m.Annotations[cloudsqlproxy.StatusAnnotation] = `{"version":1,"container":"cloudsql-proxy","replaced":{"list":"containers","index":-1,"container":{"name":"x"}}}`
		},
	} {
		t.Run(name, func(t *testing.T) {
			spec := recordApp()
			meta := metav1.ObjectMeta{}
			p := mustProxy(t, cloudsqlproxy.WithAppEnv(recInst, cloudsqlproxy.AppEnv{Host: "DB_HOST"}))
			if err := p.AttachTo(&meta, &spec); err != nil {
				t.Fatal(err)
			}
			edit(&meta, &spec)
			beforeSpec, beforeMeta := spec.DeepCopy(), meta.DeepCopy()
			_, err := cloudsqlproxy.DetachFrom(&meta, &spec)
			if !errors.Is(err, cloudsqlproxy.ErrBadRecord) {
				t.Fatalf("DetachFrom error %v, want ErrBadRecord", err)
			}
			if !cmp.Equal(beforeSpec, &spec) || !cmp.Equal(beforeMeta, &meta) {
				t.Error("a refused DetachFrom changed the pod")
			}
		})
	}
	// No record, nothing to do.
	spec := recordApp()
	if found, err := cloudsqlproxy.DetachFrom(&metav1.ObjectMeta{}, &spec); found || err != nil {
		t.Errorf("DetachFrom without a record = %v, %v", found, err)
	}
}

// TestDetachFromRestoresPositions: an adopted proxy that was not the last
// container of its list, and the Secret volume of its key file that was not
// the last volume, come back where they stood.
func TestDetachFromRestoresPositions(t *testing.T) {
	proxy := corev1.Container{Name: "cloud-sql-proxy", Image: "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.1",
		Args:         []string{"--credentials-file=/secrets/key.json", "--port=5432", recInst},
		VolumeMounts: []corev1.VolumeMount{{Name: "sa", MountPath: "/secrets", ReadOnly: true}}}
	emptyDir := func(name string) corev1.Volume {
		return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
	}
	sa := corev1.Volume{Name: "sa", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "proxy-sa"}}}
	app := func(name string) corev1.Container {
		return corev1.Container{Name: name, Image: "example.com/" + name + ":1"}
	}
	tests := []struct {
		name string
		spec corev1.PodSpec
	}{
		{"first of the containers, Secret volume first", corev1.PodSpec{
			Containers: []corev1.Container{proxy, app("web"), app("worker")},
			Volumes:    []corev1.Volume{sa, emptyDir("data"), emptyDir("cache")}}},
		{"between the containers, Secret volume between the volumes", corev1.PodSpec{
			Containers: []corev1.Container{app("web"), proxy, app("worker")},
			Volumes:    []corev1.Volume{emptyDir("data"), sa, emptyDir("cache")}}},
		{"first init container of two", corev1.PodSpec{
			InitContainers: []corev1.Container{proxy, app("migrate")},
			Containers:     []corev1.Container{app("web")},
			Volumes:        []corev1.Volume{emptyDir("data"), sa, emptyDir("cache")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := *tt.spec.DeepCopy()
			meta := metav1.ObjectMeta{}
			insts, opts, err := cloudsqlproxy.FromContainer(proxy, spec.Volumes)
			if err != nil {
				t.Fatal(err)
			}
			p, err := cloudsqlproxy.New(insts[0], opts...)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.AttachTo(&meta, &spec); err != nil {
				t.Fatal(err)
			}
			if slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == "sa" }) {
				t.Fatalf("the adopted Secret volume is still there: %v", spec.Volumes)
			}
			if _, err := cloudsqlproxy.DetachFrom(&meta, &spec); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(&tt.spec, &spec); diff != "" {
				t.Errorf("spec after DetachFrom (-original +got):\n%s", diff)
			}
		})
	}
}
