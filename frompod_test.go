package cloudsqlproxy

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

const fromPodInst = "my-project:us-central1:db"

// handWrittenPod is a pod with a plain v2 sidecar after the app, a key file
// from a Secret, and an init container before both.
func handWrittenPod() corev1.PodSpec {
	return corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "migrate", Image: "example.com/migrate:1"}},
		Containers: []corev1.Container{
			{Name: "app", Image: "example.com/app:1"},
			{Name: "cloud-sql-proxy", Image: "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.1",
				Args:         []string{"--port=5432", "--credentials-file=/secrets/key.json", fromPodInst},
				VolumeMounts: []corev1.VolumeMount{{Name: "sa", MountPath: "/secrets", ReadOnly: true}}},
		},
		Volumes: []corev1.Volume{{Name: "sa", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "db-sa"}}}},
	}
}

// TestFromPodIsFromContainerThenNew: for a pod with one proxy, FromPod
// builds what a caller of FromContainer and New would, options given
// winning, and Attach then gives the same pod; the input is not changed.
func TestFromPodIsFromContainerThenNew(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts []Option
	}{
		{"adopted as is", nil},
		{"options win", []Option{WithHealthPort(9999), WithLazyRefresh(), WithImage("gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.28.0")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spec := handWrittenPod()
			before := spec.DeepCopy()
			got, err := FromPod(nil, &spec, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(before, &spec); diff != "" {
				t.Fatalf("FromPod changed the spec (-before +after):\n%s", diff)
			}
			insts, opts, err := FromContainer(spec.Containers[1], spec.Volumes)
			if err != nil {
				t.Fatal(err)
			}
			want, err := New(insts[0], append(opts, tt.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want.Container(), got.Container()); diff != "" {
				t.Errorf("container (-FromContainer+New +FromPod):\n%s", diff)
			}
			wantSpec, gotSpec := spec.DeepCopy(), spec.DeepCopy()
			if err := want.Attach(wantSpec); err != nil {
				t.Fatal(err)
			}
			if err := got.Attach(gotSpec); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(wantSpec, gotSpec); diff != "" {
				t.Errorf("attached pod (-FromContainer+New +FromPod):\n%s", diff)
			}
		})
	}
}

// TestFromPodInstances: WithInstance given replaces the adopted instances
// as a whole.
func TestFromPodInstances(t *testing.T) {
	spec := handWrittenPod()
	for _, tt := range []struct {
		name string
		opts []Option
		want []string
	}{
		{"adopted", nil, []string{fromPodInst + "?port=5432"}},
		{"replaced", []Option{WithInstance("other-project:europe-west1:a"), WithInstance("other-project:europe-west1:b")},
			[]string{"other-project:europe-west1:a?port=5432", "other-project:europe-west1:b?port=5433"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := FromPod(nil, &spec, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			args := p.Container().Args
			if diff := cmp.Diff(tt.want, args[len(args)-len(tt.want):]); diff != "" {
				t.Errorf("instances (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFromPodReadsThroughTheRecord: a pod the library changed with AttachTo
// is adopted from what it was before, so adopting again with other options
// equals adopting the original with them.
func TestFromPodReadsThroughTheRecord(t *testing.T) {
	orig := handWrittenPod()
	var meta metav1.ObjectMeta
	injected := orig.DeepCopy()
	first, err := FromPod(&meta, injected)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.AttachTo(&meta, injected); err != nil {
		t.Fatal(err)
	}
	again, err := FromPod(&meta, injected, WithHealthPort(9999))
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := FromPod(nil, &orig, WithHealthPort(9999))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fresh.Container(), again.Container()); diff != "" {
		t.Errorf("re-adopted (-fresh +again):\n%s", diff)
	}
}

func TestFromPodErrors(t *testing.T) {
	twoProxies := handWrittenPod()
	twoProxies.InitContainers = append(twoProxies.InitContainers, corev1.Container{Name: "gce-proxy",
		Image: "gcr.io/cloudsql-docker/gce-proxy:1.33.2", Command: []string{"/cloud_sql_proxy", "-instances=" + fromPodInst + "=tcp:5433"}})
	envFrom := handWrittenPod()
	envFrom.Containers[1].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "flags"}}}}
	noProxy := handWrittenPod()
	noProxy.Containers = noProxy.Containers[:1]
	badRecord := metav1.ObjectMeta{Annotations: map[string]string{StatusAnnotation: "{"}}
	pod := handWrittenPod()
	tests := []struct {
		name string
		meta *metav1.ObjectMeta
		spec *corev1.PodSpec
		opts []Option
		is   []error
		want string // in the message
		at   string // AdoptError's container, when it is one
	}{
		{name: "nil spec", is: []error{ErrNilPodSpec}},
		{name: "no proxy", spec: &noProxy, is: []error{ErrNoProxy}},
		{name: "two proxies", spec: &twoProxies, is: []error{ErrConflict},
			want: "initContainers[1]: Forbidden: one of 2 Cloud SQL proxies in the pod"},
		{name: "a setting it cannot carry", spec: &envFrom, is: []error{ErrInvalidConfig},
			want: `containers[1].envFrom[0]: Invalid value: "configMapRef flags"`},
		{name: "unreadable record", meta: &badRecord, spec: &pod, is: []error{ErrBadRecord}},
		{name: "another name", spec: &pod, opts: []Option{WithName("db-proxy")}, is: []error{ErrInvalidConfig},
			want: `WithName: Invalid value: "db-proxy": the adopted proxy keeps its name "cloud-sql-proxy"`, at: "containers[1]"},
		{name: "an option its image lacks", spec: &pod, opts: []Option{WithBuiltInMetrics(true)}, is: []error{ErrInvalidConfig, ErrUnsupportedVersion},
			want: "needs proxy 2.27.0 or newer; the image is 2.14.1", at: "containers[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := FromPod(tt.meta, tt.spec, tt.opts...)
			if err == nil || p != nil {
				t.Fatalf("FromPod: %v, %v; want an error", p, err)
			}
			for _, target := range tt.is {
				if !errors.Is(err, target) {
					t.Errorf("%v is not %v", err, target)
				}
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%v, want it to contain %q", err, tt.want)
			}
			var ae *AdoptError
			if got := errors.As(err, &ae); got != (tt.at != "") || (got && ae.Container.String() != tt.at) {
				t.Errorf("AdoptError %v (%v), want one at %q", got, ae, tt.at)
			}
		})
	}
	if _, err := FromPod(nil, &twoProxies); !strings.Contains(err.Error(), "containers[1]: Forbidden") {
		t.Errorf("the two-proxies error does not name the second: %v", err)
	}
}

// TestStandaloneProxy: a pod that runs the proxy alone, behind a Service,
// is no sidecar case; FromPod says so, and Attach never writes a pod
// without containers.
func TestStandaloneProxy(t *testing.T) {
	spec := corev1.PodSpec{Containers: []corev1.Container{{Name: "cloud-sql-proxy",
		Image: "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.1",
		Args:  []string{"--address=0.0.0.0", "--port=5432", fromPodInst}}}}
	if _, err := FromPod(nil, &spec); !errors.Is(err, ErrStandaloneProxy) {
		t.Errorf("FromPod: %v, want ErrStandaloneProxy", err)
	}
	insts, opts, err := FromContainer(spec.Containers[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(insts[0], opts...)
	if err != nil {
		t.Fatal(err)
	}
	before := spec.DeepCopy()
	err = p.Attach(&spec)
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "containers: Required value: the proxy is the pod's only container") {
		t.Errorf("Attach: %v", err)
	}
	if diff := cmp.Diff(before, &spec); diff != "" {
		t.Errorf("Attach changed the spec (-before +after):\n%s", diff)
	}
	legacy, err := New(insts[0], append(opts, WithLegacySidecar())...)
	if err != nil {
		t.Fatal(err)
	}
	if err := legacy.Attach(spec.DeepCopy()); err != nil {
		t.Errorf("legacy Attach, which keeps the proxy a regular container: %v", err)
	}
}

// TestAdoptionNotes: adopting says how the proxy's behaviour differs from
// the container's, field by field, and says nothing when nothing differs.
func TestAdoptionNotes(t *testing.T) {
	seed := handWrittenPod()
	proxy := &seed.Containers[1]
	proxy.Args = append([]string{"--address=0.0.0.0"}, proxy.Args...)
	proxy.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.IntOrString{Type: intstr.Int, IntVal: 5432}}}}
	proxy.LivenessProbe = proxy.ReadinessProbe.DeepCopy()
	proxy.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sleep", "30"}}}}
	p, err := FromPod(nil, &seed)
	if err != nil {
		t.Fatal(err)
	}
	a := p.Adoption()
	if a == nil || a.Container.String() != "containers[1]" || a.Name != "cloud-sql-proxy" {
		t.Fatalf("Adoption() = %+v", a)
	}
	var got []string
	for _, n := range a.Notes {
		got = append(got, string(n.Reason)+" "+n.Field.String())
	}
	want := []string{
		"ListensBeyondPod containers[1].args[0]",
		"ProbeReplaced containers[1].livenessProbe",
		"ProbeDropped containers[1].readinessProbe",
		"HookDropped containers[1].lifecycle.preStop",
		"VolumeRenamed containers[1].volumeMounts[0]",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}

	safe, err := FromPod(nil, &seed, WithListenAddress("127.0.0.1"), WithReadinessProbe(ProbeTiming{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range safe.Adoption().Notes {
		if n.Reason == NoteListensBeyondPod || n.Reason == NoteProbeDropped {
			t.Errorf("a note for what the options changed back: %v", n)
		}
	}
	fresh, err := New(fromPodInst)
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Adoption() != nil {
		t.Error("a proxy read from no container has an Adoption")
	}
}

// TestFromPodKeepsEditsMadeAfterInjection: a pod the library changed is
// read from its proxy as it is now, so edits made since (a bot bumping the
// image tag) stay unless an option says otherwise, and a proxy behind the
// Job-mode timeout wrapper reads back to itself.
func TestFromPodKeepsEditsMadeAfterInjection(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts []Option
	}{
		{"native", []Option{WithHealthPort(9000), WithLazyRefresh()}},
		{"legacy", []Option{WithLegacySidecar(), WithUnixSocket("/cloudsql")}},
		{"job with a timeout", []Option{ForJob(90 * time.Second), WithCredentialsSecret("sa")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spec := handWrittenPod()
			spec.Containers, spec.Volumes = spec.Containers[:1], nil
			spec.RestartPolicy = corev1.RestartPolicyNever
			var meta metav1.ObjectMeta
			p, err := New(fromPodInst, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.AttachTo(&meta, &spec); err != nil {
				t.Fatal(err)
			}
			mode := tt.opts[:1] // the mode is the caller's to say each time
			again, err := FromPod(&meta, &spec, mode...)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(p.Container(), again.Container()); diff != "" {
				t.Errorf("read back (-injected +re-read):\n%s", diff)
			}
			c := findContainer(&spec, p.Name())
			c.Image = "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.29.0-alpine"
			edited, err := FromPod(&meta, &spec, mode...)
			if err != nil {
				t.Fatal(err)
			}
			if got := edited.Container().Image; got != c.Image {
				t.Errorf("image %q, want the edited %q", got, c.Image)
			}
			overridden, err := FromPod(&meta, &spec, append(mode, WithImage(DefaultImage+"-alpine"))...)
			if err != nil {
				t.Fatal(err)
			}
			if got := overridden.Container().Image; got != DefaultImage+"-alpine" {
				t.Errorf("image %q, want the option's", got)
			}
		})
	}
}
