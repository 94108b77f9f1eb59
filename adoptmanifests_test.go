package cloudsqlproxy

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/podspec/cloudsqlproxy/internal/proxycmd"
)

// TestAdoptManifests reads every manifest under testdata/adopt, each
// modelled on an upstream example (its header says which), and checks
// against NAME.want.txt what adoption must keep: which containers run a
// proxy, and for each the v2 settings, read with proxycmd.SplitV2 for a v2 proxy and
// with proxycmd.TranslateV1Container for a v1 one, or the errors that stop it. The
// want files were written by hand from the manifests; -update rewrites them,
// so review the diff.
func TestAdoptManifests(t *testing.T) {
	manifests, err := filepath.Glob(filepath.Join("testdata", "adopt", "*.yaml"))
	if err != nil || len(manifests) < 8 {
		t.Fatalf("want at least 8 manifests under testdata/adopt, have %d (%v)", len(manifests), err)
	}
	for _, m := range manifests {
		name := strings.TrimSuffix(filepath.Base(m), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(m)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(data), "# ") {
				t.Error("the manifest must start with a comment naming what it models")
			}
			spec := manifestPodSpec(t, data)
			got := renderAdoption(spec)
			checkGolden(t, filepath.Join("testdata", "adopt", name+".want.txt"), got, "TestAdoptManifests")
		})
	}
}

// manifestPodSpec decodes the pod spec of a Pod, Deployment, StatefulSet,
// Job or CronJob, strictly so that a typo in a manifest is caught.
func manifestPodSpec(t *testing.T, data []byte) *corev1.PodSpec {
	t.Helper()
	var meta struct{ Kind string }
	if err := yaml.Unmarshal(data, &meta); err != nil {
		t.Fatal(err)
	}
	var obj any
	switch meta.Kind {
	case "Pod":
		obj = &corev1.Pod{}
	case "Deployment":
		obj = &appsv1.Deployment{}
	case "StatefulSet":
		obj = &appsv1.StatefulSet{}
	case "Job":
		obj = &batchv1.Job{}
	case "CronJob":
		obj = &batchv1.CronJob{}
	default:
		t.Fatalf("kind %q", meta.Kind)
	}
	if err := yaml.UnmarshalStrict(data, obj); err != nil {
		t.Fatal(err)
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		return &o.Spec
	case *appsv1.Deployment:
		return &o.Spec.Template.Spec
	case *appsv1.StatefulSet:
		return &o.Spec.Template.Spec
	case *batchv1.Job:
		return &o.Spec.Template.Spec
	default:
		return &obj.(*batchv1.CronJob).Spec.JobTemplate.Spec.Template.Spec
	}
}

func renderAdoption(spec *corev1.PodSpec) string {
	var b strings.Builder
	found := false
	for _, list := range []struct {
		name string
		cs   []corev1.Container
	}{{"containers", spec.Containers}, {"initContainers", spec.InitContainers}} {
		for i := range list.cs {
			c := &list.cs[i]
			fld := field.NewPath(list.name).Index(i)
			gen := proxycmd.Detect(c)
			if gen == proxycmd.None {
				continue
			}
			found = true
			fmt.Fprintf(&b, "%s %s: %v\n", fld, c.Name, gen)
			var errs field.ErrorList
			switch gen {
			case proxycmd.V1, proxycmd.V1Shell:
				var v2 []string
				v2, _, errs = proxycmd.TranslateV1Container(fld, c)
				for _, a := range v2 {
					fmt.Fprintf(&b, "  v2 %s\n", a)
				}
			default:
				cmd := proxycmd.Read(fld, c)
				errs = cmd.Errs
				if cmd.Argv != nil {
					var flags, insts []proxycmd.Setting
					flags, insts, errs = proxycmd.SplitV2(cmd.Argv, cmd.At, c.Env, fld.Child("env"))
					for _, f := range flags {
						fmt.Fprintf(&b, "  flag %s=%s (%s)\n", f.Name, showValue(f), f.Path)
					}
					for _, in := range insts {
						fmt.Fprintf(&b, "  instance %s (%s)\n", showValue(in), in.Path)
					}
				}
			}
			for _, e := range errs {
				fmt.Fprintf(&b, "  error %s\n", e.Error())
			}
		}
	}
	if !found {
		b.WriteString("no proxy\n")
	}
	return b.String()
}

func showValue(s proxycmd.Setting) string {
	switch f := s.From; {
	case f == nil:
		return s.Value
	case f.ConfigMapKeyRef != nil:
		return "<valueFrom configMapKeyRef " + f.ConfigMapKeyRef.Name + "/" + f.ConfigMapKeyRef.Key + ">"
	case f.SecretKeyRef != nil:
		return "<valueFrom secretKeyRef " + f.SecretKeyRef.Name + "/" + f.SecretKeyRef.Key + ">"
	}
	return "<valueFrom>"
}
