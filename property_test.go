package cloudsqlproxy_test

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/podspec/cloudsqlproxy"
)

// The properties below hold for every proxy configuration and every pod
// that the proxy can be attached to; they are checked over the cross product
// of propProxies and propPods. The fuzz targets check the same properties on
// generated pods.

type namedProxy struct {
	name string
	p    *cloudsqlproxy.Proxy
}

const (
	propInst  = "my-project:us-central1:db"
	propInst2 = "my-project:europe-west1:replica"
)

// propConfigs covers every mode and everything Attach adds besides the
// container: volumes, environment variables and socket mounts.
var propConfigs = []struct {
	name string
	opts []cloudsqlproxy.Option
}{
	{"native", nil},
	{"native wired", []cloudsqlproxy.Option{
		cloudsqlproxy.WithInstance(propInst2),
		cloudsqlproxy.WithAppEnv(propInst, cloudsqlproxy.AppEnv{Host: "DB_HOST", Port: "DB_PORT"}),
		cloudsqlproxy.WithAppEnv(propInst2, cloudsqlproxy.AppEnv{Port: "REPLICA_PORT"}),
		cloudsqlproxy.WithCredentialsSecret("sql-key"),
		cloudsqlproxy.WithReadinessProbe(cloudsqlproxy.ProbeTiming{}),
	}},
	{"native socket", []cloudsqlproxy.Option{
		cloudsqlproxy.WithUnixSocket("/cloudsql"),
		cloudsqlproxy.WithAppEnv(propInst, cloudsqlproxy.AppEnv{Socket: "DB_SOCKET"}),
	}},
	{"legacy wired", []cloudsqlproxy.Option{
		cloudsqlproxy.WithLegacySidecar(),
		cloudsqlproxy.WithAppEnv(propInst, cloudsqlproxy.AppEnv{Host: "DB_HOST", Port: "DB_PORT"}),
		cloudsqlproxy.WithCredentialsSecret("sql-key"),
	}},
	{"job", []cloudsqlproxy.Option{cloudsqlproxy.ForJob(0)}},
	{"job timeout socket", []cloudsqlproxy.Option{
		cloudsqlproxy.ForJob(5 * time.Minute),
		cloudsqlproxy.WithUnixSocket("/cloudsql"),
		cloudsqlproxy.WithName("db-proxy"),
	}},
}

func propProxies(tb testing.TB) []namedProxy {
	tb.Helper()
	var out []namedProxy
	for _, c := range propConfigs {
		p, err := cloudsqlproxy.New(propInst, c.opts...)
		if err != nil {
			tb.Fatalf("New(%s): %v", c.name, err)
		}
		out = append(out, namedProxy{c.name, p})
	}
	return out
}

// propPods are pods every proxy of propProxies attaches to, none of which
// already holds anything a proxy adds: Detach must give each back.
// RestartPolicy is never Always because the Job-mode proxies refuse that.
func propPods() map[string]corev1.PodSpec {
	app := corev1.Container{
		Name:  "app",
		Image: "registry.example/app:1.0",
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
		Env: []corev1.EnvVar{
			{Name: "MODE", Value: "production"},
			{Name: "SECRET", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k",
			}}},
		},
		VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
			corev1.ResourceMemory: resource.MustParse("1Gi"),
		}},
	}
	worker := corev1.Container{Name: "worker", Image: "registry.example/worker:1.0"}
	migrate := corev1.Container{Name: "migrate", Image: "registry.example/migrate:1.0", Env: []corev1.EnvVar{{Name: "X", Value: "1"}}}
	data := corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
	always := corev1.ContainerRestartPolicyAlways
	logShipper := corev1.Container{Name: "log-shipper", Image: "registry.example/logs:1.0", RestartPolicy: &always}
	appSpare := *app.DeepCopy()
	appSpare.Env = append(make([]corev1.EnvVar, 0, 8), app.Env...)
	appSpare.VolumeMounts = append(make([]corev1.VolumeMount, 0, 8), app.VolumeMounts...)
	return map[string]corev1.PodSpec{
		"empty":      {RestartPolicy: corev1.RestartPolicyNever},
		"one app":    {RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{app}, Volumes: []corev1.Volume{data}},
		"two apps":   {RestartPolicy: corev1.RestartPolicyOnFailure, Containers: []corev1.Container{app, worker}, Volumes: []corev1.Volume{data}},
		"migrations": {RestartPolicy: corev1.RestartPolicyOnFailure, InitContainers: []corev1.Container{migrate}, Containers: []corev1.Container{app}, Volumes: []corev1.Volume{data}},
		"other sidecar": {
			RestartPolicy:  corev1.RestartPolicyNever,
			InitContainers: []corev1.Container{logShipper, migrate},
			Containers:     []corev1.Container{worker},
		},
		"spare capacity": {
			RestartPolicy: corev1.RestartPolicyNever,
			// Spare capacity invites an append that writes into the caller's array.
			InitContainers: append(make([]corev1.Container, 0, 8), migrate),
			Containers:     append(make([]corev1.Container, 0, 8), worker, appSpare),
			Volumes:        append(make([]corev1.Volume, 0, 8), data),
		},
	}
}

// propDiff compares pod specs; EquateEmpty only where the property allows
// nil and empty to differ.
func propDiff(want, got any, equateEmpty bool) string {
	if equateEmpty {
		return cmp.Diff(want, got, cmpopts.EquateEmpty())
	}
	return cmp.Diff(want, got)
}

func TestPropertyAttachIsIdempotent(t *testing.T) {
	for _, np := range propProxies(t) {
		for podName, pod := range propPods() {
			t.Run(np.name+"/"+podName, func(t *testing.T) {
				once := *pod.DeepCopy()
				if err := np.p.Attach(&once); err != nil {
					t.Fatalf("first Attach: %v", err)
				}
				twice := *once.DeepCopy()
				if err := np.p.Attach(&twice); err != nil {
					t.Fatalf("second Attach: %v", err)
				}
				if diff := propDiff(once, twice, false); diff != "" {
					t.Errorf("Attach twice differs from Attach once (-once +twice):\n%s", diff)
				}
			})
		}
	}
}

func TestPropertyAttachThenDetachIsIdentity(t *testing.T) {
	for _, np := range propProxies(t) {
		for podName, pod := range propPods() {
			t.Run(np.name+"/"+podName, func(t *testing.T) {
				spec := *pod.DeepCopy()
				if err := np.p.Attach(&spec); err != nil {
					t.Fatalf("Attach: %v", err)
				}
				if diff := propDiff(pod, spec, true); diff == "" {
					t.Fatal("Attach changed nothing")
				}
				if err := np.p.Detach(&spec); err != nil {
					t.Fatalf("Detach: %v", err)
				}
				if diff := propDiff(pod, spec, true); diff != "" {
					t.Errorf("Detach after Attach is not the original (-original +detached):\n%s", diff)
				}
			})
		}
	}
}

// TestPropertyAttachLeavesTheCallersArraysAlone attaches to a shallow copy
// of the pod: a reconciler that attaches to an object from an informer cache
// shares the cache's arrays this way, and a write into them would corrupt
// the cache.
func TestPropertyAttachLeavesTheCallersArraysAlone(t *testing.T) {
	for _, np := range propProxies(t) {
		for podName, pod := range propPods() {
			t.Run(np.name+"/"+podName, func(t *testing.T) {
				want, wantSpare := *pod.DeepCopy(), spareCapacity(&pod)
				spec := pod
				if err := np.p.Attach(&spec); err != nil {
					t.Fatalf("Attach: %v", err)
				}
				if diff := propDiff(want, pod, false); diff != "" {
					t.Fatalf("Attach wrote into the arrays of the spec it was given (-before +after):\n%s", diff)
				}
				if diff := cmp.Diff(wantSpare, spareCapacity(&pod)); diff != "" {
					t.Fatalf("Attach wrote into the spare capacity of the spec's arrays (-before +after):\n%s", diff)
				}
				attached, attachedSpare := *spec.DeepCopy(), spareCapacity(&spec)
				detached := spec
				if err := np.p.Detach(&detached); err != nil {
					t.Fatalf("Detach: %v", err)
				}
				if diff := propDiff(attached, spec, false); diff != "" {
					t.Errorf("Detach wrote into the arrays of the spec it was given (-before +after):\n%s", diff)
				}
				if diff := cmp.Diff(attachedSpare, spareCapacity(&spec)); diff != "" {
					t.Errorf("Detach wrote into the spare capacity of the spec's arrays (-before +after):\n%s", diff)
				}
			})
		}
	}
}

// spareCapacity copies the elements between length and capacity of every
// slice reachable from v: an append that writes into a caller's array lands
// there, where comparing the slices themselves cannot see it.
func spareCapacity(v any) []any {
	var out []any
	var walk func(reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				if v.Type().Field(i).IsExported() {
					walk(v.Field(i))
				}
			}
		case reflect.Slice:
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i))
			}
			if v.Cap() > v.Len() {
				spare := v.Slice(v.Len(), v.Cap())
				c := reflect.MakeSlice(spare.Type(), spare.Len(), spare.Len())
				reflect.Copy(c, spare)
				out = append(out, c.Interface())
			}
		}
	}
	walk(reflect.ValueOf(v))
	return out
}

// propConflicts are pods the named proxy must refuse, each with the field
// paths the error must name.
func propConflicts() []struct {
	name   string
	proxy  string
	pod    corev1.PodSpec
	fields []string
} {
	pods := propPods()
	oneApp := pods["one app"]
	with := func(f func(*corev1.PodSpec)) corev1.PodSpec {
		s := *oneApp.DeepCopy()
		f(&s)
		return s
	}
	return []struct {
		name   string
		proxy  string
		pod    corev1.PodSpec
		fields []string
	}{
		{"health port taken", "native", with(func(s *corev1.PodSpec) {
			s.Containers[0].Ports = append(s.Containers[0].Ports, corev1.ContainerPort{ContainerPort: cloudsqlproxy.DefaultHealthPort})
		}), []string{"containers[0].ports[1].containerPort"}},
		{"listener port and health port name taken, host network", "native wired", with(func(s *corev1.PodSpec) {
			s.HostNetwork = true
			s.Containers[0].Ports = append(s.Containers[0].Ports,
				corev1.ContainerPort{ContainerPort: 5433},
				corev1.ContainerPort{Name: cloudsqlproxy.HealthPortName, ContainerPort: 7000})
		}), []string{"hostNetwork", "containers[0].ports[1].containerPort", "containers[0].ports[2].name"}},
		{"name of an unrelated container", "native", with(func(s *corev1.PodSpec) {
			s.InitContainers = []corev1.Container{{Name: cloudsqlproxy.DefaultName, Image: "busybox"}}
		}), []string{"initContainers[0].image"}},
		{"name of an ephemeral container", "native", with(func(s *corev1.PodSpec) {
			s.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: cloudsqlproxy.DefaultName, Image: "busybox"}}}
		}), []string{"ephemeralContainers[0].name"}},
		{"env var with another value", "native wired", with(func(s *corev1.PodSpec) {
			s.Containers[0].Env = append(s.Containers[0].Env, corev1.EnvVar{Name: "DB_PORT", Value: "3306"})
		}), []string{"containers[0].env[2].value"}},
		{"env var from a secret", "legacy wired", with(func(s *corev1.PodSpec) {
			s.Containers[0].Env = append(s.Containers[0].Env, corev1.EnvVar{Name: "DB_HOST", ValueFrom: &corev1.EnvVarSource{
				FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"},
			}})
		}), []string{"containers[0].env[2].value"}},
		{"socket directory mounted from another volume", "native socket", with(func(s *corev1.PodSpec) {
			s.Containers[0].VolumeMounts = append(s.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "data", MountPath: "/cloudsql"})
		}), []string{"containers[0].volumeMounts[1].mountPath"}},
		{"volume name with other content", "native wired", with(func(s *corev1.PodSpec) {
			s.Volumes = append(s.Volumes, corev1.Volume{Name: "cloudsql-proxy-credentials", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		}), []string{"volumes[1]"}},
		{"job in a pod that restarts forever", "job", with(func(s *corev1.PodSpec) {
			s.RestartPolicy = corev1.RestartPolicyAlways
		}), []string{"restartPolicy"}},
		{"job in a pod with the default restart policy", "job timeout socket", with(func(s *corev1.PodSpec) {
			s.RestartPolicy = ""
		}), []string{"restartPolicy"}},
	}
}

// TestPropertyFailedAttachChangesNothing: every refusal lists every problem
// as a field error, and leaves the spec deeply equal to what it was.
func TestPropertyFailedAttachChangesNothing(t *testing.T) {
	proxies := map[string]*cloudsqlproxy.Proxy{}
	for _, np := range propProxies(t) {
		proxies[np.name] = np.p
	}
	for _, tt := range propConflicts() {
		t.Run(tt.name, func(t *testing.T) {
			p := proxies[tt.proxy]
			want := *tt.pod.DeepCopy()
			spec := tt.pod
			err := p.Attach(&spec)
			if !errors.Is(err, cloudsqlproxy.ErrConflict) {
				t.Fatalf("Attach: got %v, want an error wrapping ErrConflict", err)
			}
			if diff := cmp.Diff(tt.fields, propFieldPaths(t, err)); diff != "" {
				t.Errorf("field errors (-want +got):\n%s", diff)
			}
			if diff := propDiff(want, spec, false); diff != "" {
				t.Errorf("failed Attach changed the spec (-before +after):\n%s", diff)
			}
			if diff := propDiff(want, tt.pod, false); diff != "" {
				t.Errorf("failed Attach wrote into the spec's arrays (-before +after):\n%s", diff)
			}
		})
	}
}

// propFieldPaths returns the Field of every error inside Attach's error err,
// failing when err holds anything but field errors.
func propFieldPaths(t *testing.T, err error) []string {
	t.Helper()
	var paths []string
	eachFieldError(t, err, cloudsqlproxy.ErrConflict, func(_ error, fe *field.Error) {
		paths = append(paths, fe.Field)
	})
	return paths
}

// mutateAll changes every value reachable from v that a caller could
// change: exported fields, slice elements, map entries and what pointers
// point to; it also grows slices and maps. The result shares nothing with
// a correct deep copy, so any change seen elsewhere is aliasing.
func mutateAll(v reflect.Value) { mutateValue(v, map[uintptr]bool{}) }

// mutateValue visits what each pointer points to once, so that two fields
// sharing one pointer (as a hand-written literal may) are changed, not
// changed back.
func mutateValue(v reflect.Value, seen map[uintptr]bool) {
	mutateAll := func(v reflect.Value) { mutateValue(v, seen) }
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() && !seen[v.Pointer()] {
			seen[v.Pointer()] = true
			mutateAll(v.Elem())
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(resource.Quantity{}) {
			if v.CanSet() {
				q := v.Interface().(resource.Quantity)
				q.Add(resource.MustParse("1"))
				v.Set(reflect.ValueOf(q))
			}
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				mutateAll(v.Field(i))
			}
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			mutateAll(v.Index(i))
		}
		if v.CanSet() && v.Len() > 0 {
			v.Set(reflect.Append(v, v.Index(0)))
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(k))
			mutateAll(e)
			v.SetMapIndex(k, e)
		}
		if v.Type().Key().Kind() == reflect.String && !v.IsNil() {
			v.SetMapIndex(reflect.ValueOf("mutated").Convert(v.Type().Key()), reflect.New(v.Type().Elem()).Elem())
		}
	case reflect.String:
		if v.CanSet() {
			v.SetString(v.String() + "-mutated")
		}
	case reflect.Bool:
		if v.CanSet() {
			v.SetBool(!v.Bool())
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if v.CanSet() {
			v.SetInt(v.Int() + 1)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if v.CanSet() {
			v.SetUint(v.Uint() + 1)
		}
	}
}

func TestMutateAllReachesEverything(t *testing.T) {
	// The check below is only as strong as mutateAll: make sure it changes
	// each kind of field the container has.
	c := benchLiteralContainer()
	before := *c.DeepCopy()
	mutateAll(reflect.ValueOf(&c))
	for _, tt := range []struct {
		what    string
		changed bool
	}{
		{"Args element", c.Args[0] != before.Args[0]},
		{"Args length", len(c.Args) != len(before.Args)},
		{"port number", c.Ports[0].ContainerPort != before.Ports[0].ContainerPort},
		{"requests quantity", !c.Resources.Requests.Cpu().Equal(*before.Resources.Requests.Cpu())},
		{"requests map", len(c.Resources.Requests) != len(before.Resources.Requests)},
		{"pointer target", *c.SecurityContext.RunAsUser != *before.SecurityContext.RunAsUser},
		{"nested pointer", c.StartupProbe.HTTPGet.Path != before.StartupProbe.HTTPGet.Path},
		{"named string through pointer", *c.RestartPolicy != *before.RestartPolicy},
		{"bool through pointer", *c.SecurityContext.ReadOnlyRootFilesystem != *before.SecurityContext.ReadOnlyRootFilesystem},
	} {
		if !tt.changed {
			t.Errorf("mutateAll left the %s unchanged", tt.what)
		}
	}
}

// TestPropertyCopiesAreIndependent: whatever a caller does to what
// Container, Volumes or Attach handed out never reaches the Proxy.
func TestPropertyCopiesAreIndependent(t *testing.T) {
	for _, np := range propProxies(t) {
		t.Run(np.name, func(t *testing.T) {
			p := np.p
			// Snapshots through the generated DeepCopy, so that they share
			// nothing with the Proxy even when Container() is broken.
			c0, v0 := p.Container(), p.Volumes()
			wantC := *c0.DeepCopy()
			var wantV []corev1.Volume
			for i := range v0 {
				wantV = append(wantV, *v0[i].DeepCopy())
			}

			c := p.Container()
			mutateAll(reflect.ValueOf(&c))
			if diff := cmp.Diff(wantC, p.Container()); diff != "" {
				t.Errorf("changing one Container() changed the next (-before +after):\n%s", diff)
			}
			v := p.Volumes()
			mutateAll(reflect.ValueOf(&v))
			if diff := cmp.Diff(wantV, p.Volumes()); diff != "" {
				t.Errorf("changing one Volumes() changed the next (-before +after):\n%s", diff)
			}

			spec := propPods()["two apps"]
			if err := p.Attach(&spec); err != nil {
				t.Fatalf("Attach: %v", err)
			}
			mutateAll(reflect.ValueOf(&spec))
			if diff := cmp.Diff(wantC, p.Container()); diff != "" {
				t.Errorf("changing an attached pod changed the proxy's container (-before +after):\n%s", diff)
			}
			if diff := cmp.Diff(wantV, p.Volumes()); diff != "" {
				t.Errorf("changing an attached pod changed the proxy's volumes (-before +after):\n%s", diff)
			}
			again := propPods()["two apps"]
			want := *again.DeepCopy()
			if err := p.Attach(&want); err != nil {
				t.Fatalf("Attach: %v", err)
			}
			if err := p.Attach(&again); err != nil {
				t.Fatalf("Attach: %v", err)
			}
			if diff := cmp.Diff(want, again); diff != "" {
				t.Errorf("changing an attached pod changed what the next Attach adds (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPropertyConcurrentUse shares each Proxy, and one pod's arrays, among
// goroutines, as a webhook serving parallel requests from one informer cache
// does. Run with -race: the detector reports any write to shared memory.
func TestPropertyConcurrentUse(t *testing.T) {
	const goroutines, rounds = 16, 50
	for _, np := range propProxies(t) {
		t.Run(np.name, func(t *testing.T) {
			p := np.p
			shared := propPods()["spare capacity"]
			want := *shared.DeepCopy()
			if err := p.Attach(&want); err != nil {
				t.Fatalf("Attach: %v", err)
			}
			c0 := p.Container()
			wantC := *c0.DeepCopy()
			errs := make(chan error, goroutines)
			var wg sync.WaitGroup
			for g := 0; g < goroutines; g++ {
				wg.Add(1)
				go func(g int) {
					defer wg.Done()
					errs <- func() error {
						for i := 0; i < rounds; i++ {
							c := p.Container()
							c.Args = append(c.Args, fmt.Sprint(g)) // a caller's own change
							if len(p.Volumes()) > 0 {
								p.Volumes()[0].Name = "x"
							}
							_ = p.Name()
							spec := shared // shallow: the arrays are shared by all goroutines
							if err := p.Attach(&spec); err != nil {
								return err
							}
							if diff := cmp.Diff(want, spec); diff != "" {
								return fmt.Errorf("goroutine %d: Attach (-want +got):\n%s", g, diff)
							}
							if err := p.Attach(&spec); err != nil {
								return err
							}
							if err := p.Detach(&spec); err != nil {
								return err
							}
						}
						return nil
					}()
				}(g)
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			if diff := cmp.Diff(wantC, p.Container()); diff != "" {
				t.Errorf("the proxy changed under concurrent use (-before +after):\n%s", diff)
			}
		})
	}
}
