package cloudsqlproxy

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/podspec/cloudsqlproxy/internal/proxycmd"
)

// FuzzFromContainer feeds FromContainer containers made of arbitrary text
// (see fuzzContainer for the encoding), seeded with every container of the
// manifests under testdata/adopt. FromContainer must not panic, must be
// deterministic and must not write into its arguments. Its error is
// ErrNotProxy, or wraps ErrInvalidConfig and holds only field errors that
// name a field of the container (an index within the list it names), each
// with a reason. Its options, given to New, give a proxy or an error
// wrapping ErrInvalidConfig. That proxy, attached to a pod holding the
// original container (as a plain sidecar, a native one, or first) and an
// application, either replaces the original, leaving one proxy in the pod,
// and attaching again changes nothing; or it fails with ErrConflict and
// leaves the pod as it was.
//
//	go test -run '^$' -fuzz '^FuzzFromContainer$' -fuzztime 3m .
func FuzzFromContainer(f *testing.F) {
	for _, spec := range append(adoptSeedSpecs(f), fuzzExtraSeeds()...) {
		for _, l := range containerLists(spec) {
			for _, c := range l.cs {
				in := encodeFuzzContainer(c, spec.Volumes)
				where := uint8(0)
				if l.name == "initContainers" {
					where = 1
				}
				f.Add(in.name, in.image, in.command, in.args, in.env, in.mounts, in.volumes, where)
			}
		}
	}
	f.Fuzz(func(t *testing.T, name, image, command, args, env, mounts, volumes string, where uint8) {
		c, vols := fuzzContainer(fuzzInput{name, image, command, args, env, mounts, volumes})
		checkFromContainer(t, c, vols, where)
	})
}

func checkFromContainer(t *testing.T, c corev1.Container, vols []corev1.Volume, where uint8) {
	t.Helper()
	origC, origVols := *c.DeepCopy(), deepCopyVolumes(vols)
	insts, opts, err := FromContainer(c, vols)
	if !reflect.DeepEqual(origC, c) || !reflect.DeepEqual(origVols, vols) {
		t.Fatalf("FromContainer wrote into its arguments (-before +after):\n%s%s", cmp.Diff(origC, c), cmp.Diff(origVols, vols))
	}
	insts2, opts2, err2 := FromContainer(c, vols)
	if !slices.Equal(insts, insts2) || errString(err) != errString(err2) || len(opts) != len(opts2) {
		t.Fatalf("not deterministic: %q %d options %v, then %q %d options %v", insts, len(opts), err, insts2, len(opts2), err2)
	}
	if err != nil {
		if insts != nil || opts != nil {
			t.Errorf("an error and a result %q, %d options: %v", insts, len(opts), err)
		}
		if errors.Is(err, ErrNotProxy) {
			return
		}
		checkContainerFieldErrors(t, &c, err)
		return
	}

	if len(insts) == 0 {
		t.Fatalf("FromContainer succeeded without an instance")
	}
	for _, in := range insts[1:] {
		opts = append(opts, WithInstance(in))
		opts2 = append(opts2, WithInstance(in))
	}
	p, err := New(insts[0], opts...)
	if err != nil {
		if !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("New on the adopted options: an error that does not wrap ErrInvalidConfig: %v", err)
		}
		return
	}
	p2, err := New(insts2[0], opts2...)
	if err != nil {
		t.Fatalf("New on the second FromContainer's options: %v", err)
	}
	if diff := cmp.Diff(p.Container(), p2.Container()); diff != "" {
		t.Fatalf("two adoptions give different containers (-first +second):\n%s", diff)
	}

	input := fuzzPod(c, vols, where)
	before := *input.DeepCopy()
	spec := input // shares its arrays with input, which Attach must not write
	err = p.Attach(&spec)
	if !reflect.DeepEqual(before, input) {
		t.Fatalf("Attach wrote into the arrays of the spec it was given (-before +after):\n%s", cmp.Diff(before, input))
	}
	if err != nil {
		if !errors.Is(err, ErrConflict) {
			t.Fatalf("Attach: an error that does not wrap ErrConflict: %v", err)
		}
		if !reflect.DeepEqual(before, spec) {
			t.Fatalf("a failed Attach changed the pod (-before +after):\n%s", cmp.Diff(before, spec))
		}
		return
	}
	var proxies []string
	for _, l := range containerLists(&spec) {
		for i := range l.cs {
			if proxycmd.Detect(&l.cs[i]) != proxycmd.None {
				proxies = append(proxies, l.name+"/"+l.cs[i].Name)
			}
		}
	}
	if len(proxies) != 1 || !strings.HasSuffix(proxies[0], "/"+p.Name()) {
		t.Fatalf("after adopting %q the pod runs the proxies %q, want %q alone\n%s", c.Name, proxies, p.Name(), cmp.Diff(before, spec))
	}
	twice := *spec.DeepCopy()
	if err := p.Attach(&twice); err != nil {
		t.Fatalf("second Attach: %v", err)
	}
	if !reflect.DeepEqual(spec, twice) {
		t.Fatalf("attaching the adopted proxy again changes the pod (-once +twice):\n%s", cmp.Diff(spec, twice))
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func deepCopyVolumes(vs []corev1.Volume) []corev1.Volume {
	if vs == nil {
		return nil
	}
	out := make([]corev1.Volume, len(vs))
	for i := range vs {
		vs[i].DeepCopyInto(&out[i])
	}
	return out
}

// containerFieldRE is a field path FromContainer may name: a field of the
// container, with an index for a list.
var containerFieldRE = regexp.MustCompile(`^container\.(command|args|env|volumeMounts|image)(?:\[(\d+)\])?(?:\.|$)`)

// checkContainerFieldErrors checks that err wraps ErrInvalidConfig and
// holds field errors only, each naming a field of c and giving a reason.
func checkContainerFieldErrors(t *testing.T, c *corev1.Container, err error) {
	t.Helper()
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("error wraps neither ErrNotProxy nor ErrInvalidConfig: %v", err)
	}
	var agg utilerrors.Aggregate
	if !errors.As(err, &agg) || len(agg.Errors()) == 0 {
		t.Fatalf("error holds no Aggregate of field errors: %v", err)
	}
	lens := map[string]int{"command": len(c.Command), "args": len(c.Args), "env": len(c.Env), "volumeMounts": len(c.VolumeMounts)}
	for _, e := range agg.Errors() {
		var fe *field.Error
		if !errors.As(e, &fe) {
			t.Errorf("not a *field.Error: %T %v", e, e)
			continue
		}
		m := containerFieldRE.FindStringSubmatch(fe.Field)
		if m == nil {
			t.Errorf("field error names %q, not a field of the container: %v", fe.Field, fe)
			continue
		}
		if m[2] != "" {
			if i, _ := strconv.Atoi(m[2]); i >= lens[m[1]] {
				t.Errorf("field error names %s, but the container's %s has %d entries: %v", fe.Field, m[1], lens[m[1]], fe)
			}
		}
		if fe.Detail == "" && fe.Type != field.ErrorTypeRequired {
			t.Errorf("field error without a reason: %v", fe)
		}
	}
}

// fuzzPod is an application pod holding c: as its second container
// (where%3 == 0), as a native sidecar (1) or as its first container (2).
func fuzzPod(c corev1.Container, vols []corev1.Volume, where uint8) corev1.PodSpec {
	app := corev1.Container{Name: "application", Image: "example.com/app:1.0.0"}
	if c.Name == app.Name {
		app.Name += "-2"
	}
	spec := corev1.PodSpec{RestartPolicy: corev1.RestartPolicyAlways, Volumes: vols}
	switch where % 3 {
	case 0:
		spec.Containers = []corev1.Container{app, c}
	case 1:
		always := corev1.ContainerRestartPolicyAlways
		c.RestartPolicy = &always
		spec.InitContainers = []corev1.Container{c}
		spec.Containers = []corev1.Container{app}
	default:
		spec.Containers = []corev1.Container{c, app}
	}
	return spec
}

// fuzzInput is a container as text. Command and args are arguments
// separated by NUL (a shell script spans lines); the other lists are one
// entry a line: env "NAME=VALUE", or "NAME" alone for a
// value from a ConfigMap; mounts "VOLUME PATH [SUBPATH]"; volumes
// "NAME emptyDir", "NAME secret SECRET [KEY=PATH...]" or "NAME configMap".
type fuzzInput struct {
	name, image, command, args, env, mounts, volumes string
}

func lines(s string) []string { return split(s, "\n") }

func split(s, sep string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, sep)
}

// fuzzContainer decodes in.
func fuzzContainer(in fuzzInput) (corev1.Container, []corev1.Volume) {
	c := corev1.Container{Name: in.name, Image: in.image, Command: split(in.command, "\x00"), Args: split(in.args, "\x00")}
	for _, l := range lines(in.env) {
		if n, v, ok := strings.Cut(l, "="); ok {
			c.Env = append(c.Env, corev1.EnvVar{Name: n, Value: v})
		} else {
			c.Env = append(c.Env, corev1.EnvVar{Name: l, ValueFrom: &corev1.EnvVarSource{
				ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}, Key: l}}})
		}
	}
	for _, l := range lines(in.mounts) {
		f := strings.Fields(l)
		m := corev1.VolumeMount{}
		if len(f) > 0 {
			m.Name = f[0]
		}
		if len(f) > 1 {
			m.MountPath = f[1]
		}
		if len(f) > 2 {
			m.SubPath = f[2]
		}
		c.VolumeMounts = append(c.VolumeMounts, m)
	}
	var vols []corev1.Volume
	for _, l := range lines(in.volumes) {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		v := corev1.Volume{Name: f[0]}
		switch f[1] {
		case "emptyDir":
			v.EmptyDir = &corev1.EmptyDirVolumeSource{}
		case "secret":
			v.Secret = &corev1.SecretVolumeSource{}
			if len(f) > 2 {
				v.Secret.SecretName = f[2]
			}
			for _, it := range f[min(3, len(f)):] {
				k, p, _ := strings.Cut(it, "=")
				v.Secret.Items = append(v.Secret.Items, corev1.KeyToPath{Key: k, Path: p})
			}
		default:
			v.ConfigMap = &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: f[0]}}
		}
		vols = append(vols, v)
	}
	return c, vols
}

// encodeFuzzContainer is fuzzContainer's inverse for the fields it decodes.
func encodeFuzzContainer(c corev1.Container, vols []corev1.Volume) fuzzInput {
	in := fuzzInput{name: c.Name, image: c.Image, command: strings.Join(c.Command, "\x00"), args: strings.Join(c.Args, "\x00")}
	var env, mounts, volumes []string
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			env = append(env, e.Name)
		} else {
			env = append(env, e.Name+"="+e.Value)
		}
	}
	for _, m := range c.VolumeMounts {
		mounts = append(mounts, strings.TrimSpace(m.Name+" "+m.MountPath+" "+m.SubPath))
	}
	for _, v := range vols {
		switch {
		case v.EmptyDir != nil:
			volumes = append(volumes, v.Name+" emptyDir")
		case v.Secret != nil:
			l := v.Name + " secret " + v.Secret.SecretName
			for _, it := range v.Secret.Items {
				l += " " + it.Key + "=" + it.Path
			}
			volumes = append(volumes, l)
		default:
			volumes = append(volumes, v.Name+" configMap")
		}
	}
	in.env, in.mounts, in.volumes = strings.Join(env, "\n"), strings.Join(mounts, "\n"), strings.Join(volumes, "\n")
	return in
}

// fuzzExtraSeeds are pods with what the manifests lack: a key file mapped
// by a Secret volume's items, a mount with a subPath, a ConfigMap volume.
func fuzzExtraSeeds() []*corev1.PodSpec {
	return []*corev1.PodSpec{{
		Containers: []corev1.Container{{
			Name: "cloudsql-proxy", Image: "gcr.io/cloudsql-docker/gce-proxy:1.33.2",
			Command:      []string{"/cloud_sql_proxy", "-instances=my-project:us-central1:db=tcp:5432", "-credential_file=/secrets/creds/key.json"},
			VolumeMounts: []corev1.VolumeMount{{Name: "sa", MountPath: "/secrets"}},
		}},
		Volumes: []corev1.Volume{{Name: "sa", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: "db-sa", Items: []corev1.KeyToPath{{Key: "sa.json", Path: "creds/key.json"}}}}}},
	}, {
		InitContainers: []corev1.Container{{
			Name: "cloud-sql-proxy", Image: "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.25.3",
			Args:         []string{"--credentials-file=/secrets/key.json", "--unix-socket=/cloudsql", "my-project:us-central1:db"},
			VolumeMounts: []corev1.VolumeMount{{Name: "sa", MountPath: "/secrets/key.json", SubPath: "key.json"}, {Name: "settings", MountPath: "/etc/proxy"}},
		}},
		Volumes: []corev1.Volume{
			{Name: "sa", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "db-sa"}}},
			{Name: "settings", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}}},
		},
	}}
}

// adoptSeedSpecs are the pod specs of the manifests under testdata/adopt.
func adoptSeedSpecs(tb testing.TB) []*corev1.PodSpec {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "adopt", "*.yaml"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no manifests under testdata/adopt: %v", err)
	}
	var specs []*corev1.PodSpec
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			tb.Fatal(err)
		}
		var meta struct{ Kind string }
		if err := yaml.Unmarshal(data, &meta); err != nil {
			tb.Fatal(err)
		}
		found := false
		for _, k := range WorkloadKinds() {
			if k.Kind != meta.Kind {
				continue
			}
			obj := k.New()
			if err := yaml.UnmarshalStrict(data, obj); err != nil {
				tb.Fatalf("%s: %v", file, err)
			}
			spec, err := PodSpecOf(obj)
			if err != nil {
				tb.Fatalf("%s: %v", file, err)
			}
			specs = append(specs, spec)
			found = true
		}
		if !found {
			tb.Fatalf("%s: kind %q", file, meta.Kind)
		}
	}
	return specs
}

// TestFuzzFromContainerSeeds checks that the seeds of FuzzFromContainer are
// the manifests' containers (and fuzzExtraSeeds'): the encoding keeps every
// field FromContainer reads, and each seed adopts or refuses as its .adopted file says (so the
// fuzzer starts from both outcomes).
func TestFuzzFromContainerSeeds(t *testing.T) {
	adopted, refused := 0, 0
	for _, spec := range append(adoptSeedSpecs(t), fuzzExtraSeeds()...) {
		for _, l := range containerLists(spec) {
			for _, c := range l.cs {
				got, vols := fuzzContainer(encodeFuzzContainer(c, spec.Volumes))
				cc := c.DeepCopy()
				want := corev1.Container{Name: cc.Name, Image: cc.Image, Command: cc.Command, Args: cc.Args, Env: cc.Env, VolumeMounts: cc.VolumeMounts}
				for i := range want.VolumeMounts {
					want.VolumeMounts[i].ReadOnly = false
				}
				for i := range want.Env {
					if want.Env[i].ValueFrom != nil {
						got.Env[i].ValueFrom = want.Env[i].ValueFrom
					}
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s: the encoding loses (-want +got):\n%s", c.Name, diff)
				}
				if diff := cmp.Diff(spec.Volumes, vols); diff != "" {
					t.Errorf("%s: the encoding loses volumes (-want +got):\n%s", c.Name, diff)
				}
				if proxycmd.Detect(&c) == proxycmd.None {
					continue
				}
				if _, _, err := FromContainer(got, vols); err != nil {
					refused++
				} else {
					adopted++
				}
				checkFromContainer(t, got, vols, 0)
			}
		}
	}
	if adopted < 8 || refused < 2 {
		t.Errorf("seeds: %d proxies adopted, %d refused; want at least 8 and 2", adopted, refused)
	}
}
