package csqlpulumi_test

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	pappsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	pbatchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	pcorev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	pmetav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	k8sresource "k8s.io/apimachinery/pkg/api/resource"

	"github.com/podspec/cloudsqlproxy"
	"github.com/podspec/cloudsqlproxy/csqlpulumi"
)

// mocks records every resource a program registers; the engine is never
// reached, so the tests run offline.
type mocks struct {
	mu   sync.Mutex
	regs []pulumi.MockResourceArgs
}

func (m *mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.regs = append(m.regs, args)
	return args.Name + "-id", args.Inputs, nil
}

func (m *mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) { return args.Args, nil }

// registered returns the inputs of the resource of that type and name,
// read back into the k8s.io/api type out through JSON, the form the
// provider sends to the API server.
func (m *mocks) registered(t *testing.T, typ, name string, out any) pulumi.MockResourceArgs {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.regs {
		if r.TypeToken == typ && r.Name == name {
			b, err := json.Marshal(r.Inputs.Mappable())
			if err != nil {
				t.Fatal(err)
			}
			dec := json.NewDecoder(strings.NewReader(string(b)))
			dec.DisallowUnknownFields() // a field the SDK sent that k8s.io/api lacks would be lost here
			if err := dec.Decode(out); err != nil {
				t.Fatalf("%s %s: %v\n%s", typ, name, err, b)
			}
			return r
		}
	}
	t.Fatalf("no %s %s registered", typ, name)
	return pulumi.MockResourceArgs{}
}

func mustQ(s string) k8sresource.Quantity { return k8sresource.MustParse(s) }

func run(t *testing.T, program pulumi.RunFunc) (*mocks, error) {
	t.Helper()
	m := &mocks{}
	err := pulumi.RunErr(program, pulumi.WithMocks("project", "stack", m))
	return m, err
}

const inst = "my-project:us-central1:db"

// basePod is the application part of the pod, before the proxy: an init
// container (a migration), two app containers, the app's own env, mount
// and volume.
func basePod(restart corev1.RestartPolicy) corev1.PodSpec {
	return corev1.PodSpec{
		RestartPolicy:  restart,
		InitContainers: []corev1.Container{{Name: "migrate", Image: "example.com/migrate:1", Args: []string{"up"}}},
		Containers: []corev1.Container{
			{Name: "app", Image: "example.com/app:1", Env: []corev1.EnvVar{{Name: "LOG", Value: "debug"}},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}},
			{Name: "worker", Image: "example.com/worker:1"},
		},
		Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
	}
}

// seedOptions are the settings of simple-container-com/api's hand-built
// proxy (pkg/clouds/pulumi/gcp/cloudsql_proxy.go, cloudsqlProxyContainerArgs),
// expressed as options: its image, resources, health port, probe timings,
// key-file Secret and listen address.
func seedOptions(secretName string) []cloudsqlproxy.Option {
	return []cloudsqlproxy.Option{
		cloudsqlproxy.WithImage("gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.8.1-alpine"),
		cloudsqlproxy.WithResources(corev1.ResourceRequirements{
			Limits:   corev1.ResourceList{"memory": mustQ("300Mi"), "cpu": mustQ("300m")},
			Requests: corev1.ResourceList{"memory": mustQ("200Mi"), "cpu": mustQ("50m")},
		}),
		cloudsqlproxy.WithHealthPort(9090),
		cloudsqlproxy.WithCredentialsSecret(secretName),
		cloudsqlproxy.WithStartupProbe(cloudsqlproxy.ProbeTiming{PeriodSeconds: 2, TimeoutSeconds: 3, FailureThreshold: 30}),
		cloudsqlproxy.WithReadinessProbe(cloudsqlproxy.ProbeTiming{PeriodSeconds: 10, TimeoutSeconds: 3, FailureThreshold: 3}),
		cloudsqlproxy.WithLivenessProbe(cloudsqlproxy.ProbeTiming{PeriodSeconds: 10, TimeoutSeconds: 3, FailureThreshold: 3}),
		// The seed listens on 0.0.0.0; the library's default, 127.0.0.1,
		// is what its rewritten wiring (example_test.go) uses.
		cloudsqlproxy.WithListenAddress("0.0.0.0"),
	}
}

var optionCases = []struct {
	name string
	inst string
	job  bool // a Job (restartPolicy Never) rather than a Deployment
	opts []cloudsqlproxy.Option
}{
	{"default", inst, false, nil},
	{"default in a Job", inst, true, nil},
	{"the seed's settings", inst, false, seedOptions("db-creds")},
	{"legacy with app env", inst, false, []cloudsqlproxy.Option{cloudsqlproxy.WithLegacySidecar(),
		cloudsqlproxy.WithAppEnv(inst, cloudsqlproxy.AppEnv{Host: "DB_HOST", Port: "DB_PORT"})}},
	{"Job mode without timeout", inst, true, []cloudsqlproxy.Option{cloudsqlproxy.ForJob(0)}},
	{"Job mode with timeout", inst, true, []cloudsqlproxy.Option{cloudsqlproxy.ForJob(30 * time.Second)}},
	{"unix socket, two instances", inst, false, []cloudsqlproxy.Option{
		cloudsqlproxy.WithInstance("my-project:europe-west1:other"), cloudsqlproxy.WithUnixSocket("/cloudsql"),
		cloudsqlproxy.WithAppEnv(inst, cloudsqlproxy.AppEnv{Socket: "DB_SOCKET"}),
		cloudsqlproxy.WithAppEnv("my-project:europe-west1:other", cloudsqlproxy.AppEnv{Socket: "OTHER_SOCKET"})}},
	{"DNS instance, $ in values", "prod-db.example.com", false, []cloudsqlproxy.Option{
		cloudsqlproxy.WithUnixSocket("/cloud$sql"), cloudsqlproxy.WithUserAgent("team$(x)"),
		cloudsqlproxy.WithAppEnv("prod-db.example.com", cloudsqlproxy.AppEnv{Socket: "DB_SOCKET"})}},
}

// TestRegisteredPodEqualsAttach registers a workload built by the adapter,
// through FromProxy and through Apply, and requires the registered pod
// spec, read back into k8s.io/api types, to equal what Attach builds from
// the same application pod: the conversion loses nothing.
func TestRegisteredPodEqualsAttach(t *testing.T) {
	for _, tt := range optionCases {
		restart := corev1.RestartPolicyAlways
		if tt.job {
			restart = corev1.RestartPolicyNever
		}
		p, err := cloudsqlproxy.New(tt.inst, tt.opts...)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		want := basePod(restart)
		if err := p.Attach(&want); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		for _, via := range []string{"FromProxy", "Apply"} {
			t.Run(tt.name+"/"+via, func(t *testing.T) {
				var spec pcorev1.PodSpecArgs
				m, err := run(t, func(ctx *pulumi.Context) error {
					var err error
					if via == "FromProxy" {
						spec, err = podFromProxy(p, basePod(restart))
					} else {
						spec, err = podFromApply(p, basePod(restart))
					}
					if err != nil {
						return err
					}
					return register(ctx, tt.job, &spec)
				})
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, readBack(t, m, tt.job)); diff != "" {
					t.Errorf("registered pod spec differs from Attach's (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// podFromProxy wires a Sidecar into the converted application pod, the way
// the package documentation says to.
func podFromProxy(p *cloudsqlproxy.Proxy, base corev1.PodSpec) (pcorev1.PodSpecArgs, error) {
	sc, err := csqlpulumi.FromProxy(p)
	if err != nil {
		return pcorev1.PodSpecArgs{}, err
	}
	conv := func(cs []corev1.Container, wire bool) (pcorev1.ContainerArray, error) {
		var out pcorev1.ContainerArray
		for _, c := range cs {
			a, err := csqlpulumi.ToContainerArgs(c)
			if err != nil {
				return nil, err
			}
			if wire {
				a.Env = appendEnv(a.Env, sc.AppEnv)
				a.VolumeMounts = appendMounts(a.VolumeMounts, sc.AppVolumeMounts)
			}
			out = append(out, a)
		}
		return out, nil
	}
	init, err := conv(base.InitContainers, sc.Init)
	if err != nil {
		return pcorev1.PodSpecArgs{}, err
	}
	regular, err := conv(base.Containers, true)
	if err != nil {
		return pcorev1.PodSpecArgs{}, err
	}
	if sc.Init {
		init = append(pcorev1.ContainerArray{sc.Container}, init...)
	} else {
		regular = append(pcorev1.ContainerArray{sc.Container}, regular...)
	}
	vols := pcorev1.VolumeArray{}
	for _, v := range base.Volumes {
		a, err := csqlpulumi.ToVolumeArgs(v)
		if err != nil {
			return pcorev1.PodSpecArgs{}, err
		}
		vols = append(vols, a)
	}
	return pcorev1.PodSpecArgs{RestartPolicy: pulumi.String(string(base.RestartPolicy)),
		InitContainers: init, Containers: regular, Volumes: append(vols, sc.Volumes...)}, nil
}

func appendEnv(own pcorev1.EnvVarArrayInput, add pcorev1.EnvVarArray) pcorev1.EnvVarArrayInput {
	if own == nil {
		if add == nil {
			return nil
		}
		return add
	}
	return append(own.(pcorev1.EnvVarArray), add...)
}

func appendMounts(own pcorev1.VolumeMountArrayInput, add pcorev1.VolumeMountArray) pcorev1.VolumeMountArrayInput {
	if own == nil {
		if add == nil {
			return nil
		}
		return add
	}
	return append(own.(pcorev1.VolumeMountArray), add...)
}

// podFromApply wires a SidecarOutput, built from a resolved input, with its
// Env, VolumeMounts and PodVolumes helpers. Every application container
// gets the helpers, since the program cannot know whether the proxy adds
// anything.
func podFromApply(p *cloudsqlproxy.Proxy, base corev1.PodSpec) (pcorev1.PodSpecArgs, error) {
	sc := csqlpulumi.Apply(pulumi.String(inst), func(string) (*cloudsqlproxy.Proxy, error) { return p, nil })
	conv := func(cs []corev1.Container, wire bool) (pcorev1.ContainerArray, error) {
		var out pcorev1.ContainerArray
		for _, c := range cs {
			own, mounts := c.Env, c.VolumeMounts
			c.Env, c.VolumeMounts = nil, nil
			a, err := csqlpulumi.ToContainerArgs(c)
			if err != nil {
				return nil, err
			}
			ownArgs, err := envArgs(own)
			if err != nil {
				return nil, err
			}
			mountArgs, err := mountArgs(mounts)
			if err != nil {
				return nil, err
			}
			if wire {
				a.Env, a.VolumeMounts = sc.Env(ownArgs...), sc.VolumeMounts(mountArgs...)
			} else {
				a.Env, a.VolumeMounts = pcorev1.EnvVarArray(ownArgs), pcorev1.VolumeMountArray(mountArgs)
			}
			out = append(out, a)
		}
		return out, nil
	}
	native := p.NativeSidecar() // the program knows the mode it asked for
	init, err := conv(base.InitContainers, native)
	if err != nil {
		return pcorev1.PodSpecArgs{}, err
	}
	regular, err := conv(base.Containers, true)
	if err != nil {
		return pcorev1.PodSpecArgs{}, err
	}
	if native {
		init = append(pcorev1.ContainerArray{sc.Container}, init...)
	} else {
		regular = append(pcorev1.ContainerArray{sc.Container}, regular...)
	}
	var vols []pcorev1.VolumeInput
	for _, v := range base.Volumes {
		a, err := csqlpulumi.ToVolumeArgs(v)
		if err != nil {
			return pcorev1.PodSpecArgs{}, err
		}
		vols = append(vols, a)
	}
	return pcorev1.PodSpecArgs{RestartPolicy: pulumi.String(string(base.RestartPolicy)),
		InitContainers: init, Containers: regular, Volumes: sc.PodVolumes(vols...)}, nil
}

func envArgs(env []corev1.EnvVar) ([]pcorev1.EnvVarInput, error) {
	var out []pcorev1.EnvVarInput
	for _, e := range env {
		a, err := csqlpulumi.ToEnvVarArgs(e)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

func mountArgs(ms []corev1.VolumeMount) ([]pcorev1.VolumeMountInput, error) {
	var out []pcorev1.VolumeMountInput
	for _, m := range ms {
		a, err := csqlpulumi.ToVolumeMountArgs(m)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

func register(ctx *pulumi.Context, job bool, spec *pcorev1.PodSpecArgs) error {
	tmpl := &pcorev1.PodTemplateSpecArgs{Metadata: &pmetav1.ObjectMetaArgs{Labels: pulumi.StringMap{"app": pulumi.String("web")}}, Spec: spec}
	if job {
		_, err := pbatchv1.NewJob(ctx, "job", &pbatchv1.JobArgs{Spec: &pbatchv1.JobSpecArgs{Template: tmpl}})
		return err
	}
	_, err := pappsv1.NewDeployment(ctx, "web", &pappsv1.DeploymentArgs{Spec: &pappsv1.DeploymentSpecArgs{
		Selector: &pmetav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{"app": pulumi.String("web")}},
		Template: tmpl,
	}})
	return err
}

func readBack(t *testing.T, m *mocks, job bool) corev1.PodSpec {
	t.Helper()
	if job {
		var j batchv1.Job
		m.registered(t, "kubernetes:batch/v1:Job", "job", &j)
		return j.Spec.Template.Spec
	}
	var d appsv1.Deployment
	m.registered(t, "kubernetes:apps/v1:Deployment", "web", &d)
	return d.Spec.Template.Spec
}

// TestApplyKeepsDependency builds the proxy from a Secret's name output:
// the Deployment must depend on the Secret, so that Pulumi creates the
// Secret first, and must mount the name the Secret got.
func TestApplyKeepsDependency(t *testing.T) {
	var secretURN string
	m, err := run(t, func(ctx *pulumi.Context) error {
		secret, err := pcorev1.NewSecret(ctx, "sa-key", &pcorev1.SecretArgs{
			Metadata:   &pmetav1.ObjectMetaArgs{Name: pulumi.String("sa-key-7f3a")},
			StringData: pulumi.StringMap{"credentials.json": pulumi.ToSecret(pulumi.String("{}")).(pulumi.StringOutput)},
		})
		if err != nil {
			return err
		}
		secret.URN().ApplyT(func(u pulumi.URN) string { secretURN = string(u); return "" })
		sc := csqlpulumi.Apply(secret.Metadata.Name(), func(name *string) (*cloudsqlproxy.Proxy, error) {
			return cloudsqlproxy.New(inst, cloudsqlproxy.WithCredentialsSecret(*name))
		})
		return register(ctx, false, &pcorev1.PodSpecArgs{
			InitContainers: pcorev1.ContainerArray{sc.Container},
			Containers:     pcorev1.ContainerArray{pcorev1.ContainerArgs{Name: pulumi.String("app"), Image: pulumi.String("example.com/app:1")}},
			Volumes:        sc.PodVolumes(),
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	var d appsv1.Deployment
	reg := m.registered(t, "kubernetes:apps/v1:Deployment", "web", &d)
	if secretURN == "" || reg.RegisterRPC == nil {
		t.Fatalf("no Secret URN (%q) or no register request (%v)", secretURN, reg.RegisterRPC)
	}
	if diff := cmp.Diff([]string{secretURN}, reg.RegisterRPC.GetDependencies()); diff != "" {
		t.Errorf("Deployment's dependencies (-want +got):\n%s", diff)
	}
	spec := d.Spec.Template.Spec
	if len(spec.Volumes) != 1 || spec.Volumes[0].Secret == nil || spec.Volumes[0].Secret.SecretName != "sa-key-7f3a" {
		t.Errorf("volumes = %+v, want the Secret sa-key-7f3a", spec.Volumes)
	}
}

// TestApplyBuildErrorFailsProgram: an invalid configuration, known only
// once the input resolves, fails the program with the library's message,
// and errors.Is still finds the library's sentinel.
func TestApplyBuildErrorFailsProgram(t *testing.T) {
	_, err := run(t, func(ctx *pulumi.Context) error {
		sc := csqlpulumi.Apply(pulumi.String("not a connection name"), func(name string) (*cloudsqlproxy.Proxy, error) {
			return cloudsqlproxy.New(name)
		})
		return register(ctx, false, &pcorev1.PodSpecArgs{InitContainers: pcorev1.ContainerArray{sc.Container},
			Containers: pcorev1.ContainerArray{pcorev1.ContainerArgs{Name: pulumi.String("app")}}})
	})
	_, want := cloudsqlproxy.New("not a connection name")
	if err == nil || want == nil {
		t.Fatalf("RunErr = %v, New = %v: want both to fail", err, want)
	}
	if !errors.Is(err, cloudsqlproxy.ErrInvalidConfig) {
		t.Errorf("errors.Is(%v, ErrInvalidConfig) = false", err)
	}
	if !strings.Contains(err.Error(), want.Error()) {
		t.Errorf("RunErr = %q, want it to contain the library's %q", err, want)
	}
}

// TestSidecarOutputHelpersRefuseClashes: the helpers that merge the
// proxy's parts into the app's refuse what Attach refuses, failing the
// program with an error that errors.Is finds as ErrConflict.
func TestSidecarOutputHelpersRefuseClashes(t *testing.T) {
	for _, tt := range []struct {
		name string
		pod  func(sc csqlpulumi.SidecarOutput) *pcorev1.PodSpecArgs
	}{
		{"env", func(sc csqlpulumi.SidecarOutput) *pcorev1.PodSpecArgs {
			return &pcorev1.PodSpecArgs{Containers: pcorev1.ContainerArray{pcorev1.ContainerArgs{Name: pulumi.String("app"),
				Env: sc.Env(pcorev1.EnvVarArgs{Name: pulumi.String("DB_SOCKET"), Value: pulumi.String("/elsewhere")})}}}
		}},
		{"mount", func(sc csqlpulumi.SidecarOutput) *pcorev1.PodSpecArgs {
			return &pcorev1.PodSpecArgs{Containers: pcorev1.ContainerArray{pcorev1.ContainerArgs{Name: pulumi.String("app"),
				VolumeMounts: sc.VolumeMounts(pcorev1.VolumeMountArgs{Name: pulumi.String("mine"), MountPath: pulumi.String("/cloudsql")})}}}
		}},
		{"volume", func(sc csqlpulumi.SidecarOutput) *pcorev1.PodSpecArgs {
			return &pcorev1.PodSpecArgs{Containers: pcorev1.ContainerArray{pcorev1.ContainerArgs{Name: pulumi.String("app")}},
				Volumes: sc.PodVolumes(pcorev1.VolumeArgs{Name: pulumi.String("cloudsql-proxy-sockets")})}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := run(t, func(ctx *pulumi.Context) error {
				sc := csqlpulumi.Apply(pulumi.String(inst), func(name string) (*cloudsqlproxy.Proxy, error) {
					return cloudsqlproxy.New(name, cloudsqlproxy.WithUnixSocket("/cloudsql"),
						cloudsqlproxy.WithAppEnv(name, cloudsqlproxy.AppEnv{Socket: "DB_SOCKET"}))
				})
				return register(ctx, false, tt.pod(sc))
			})
			if !errors.Is(err, cloudsqlproxy.ErrConflict) {
				t.Errorf("RunErr = %v, want an error wrapping ErrConflict", err)
			}
		})
	}
}
