package cloudsqlproxy

import (
	"errors"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestPodSpecOf(t *testing.T) {
	tmpl := corev1.PodTemplateSpec{Spec: appPod()}
	objs := []runtime.Object{
		&corev1.Pod{Spec: appPod()},
		&corev1.PodTemplate{Template: *tmpl.DeepCopy()},
		&corev1.ReplicationController{Spec: corev1.ReplicationControllerSpec{Template: tmpl.DeepCopy()}},
		&appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: *tmpl.DeepCopy()}},
		&appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Template: *tmpl.DeepCopy()}},
		&appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: *tmpl.DeepCopy()}},
		&appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Template: *tmpl.DeepCopy()}},
		&batchv1.Job{Spec: batchv1.JobSpec{Template: *tmpl.DeepCopy()}},
		&batchv1.CronJob{Spec: batchv1.CronJobSpec{JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: *tmpl.DeepCopy()}}}},
	}
	p := mustNew(t)
	for _, obj := range objs {
		t.Run(kindOf(obj), func(t *testing.T) {
			spec, err := PodSpecOf(obj)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Attach(spec); err != nil {
				t.Fatal(err)
			}
			// The pointer is into the object: attaching changed the object.
			again, _ := PodSpecOf(obj)
			if got := names(again.InitContainers); len(got) == 0 || got[0] != DefaultName {
				t.Errorf("object's init containers = %q, want the proxy first", got)
			}
		})
	}
	for name, obj := range map[string]runtime.Object{
		"nil":                       nil,
		"typed nil":                 (*appsv1.Deployment)(nil),
		"service":                   &corev1.Service{},
		"rc without template":       &corev1.ReplicationController{},
		"kind named in the message": &corev1.ConfigMap{TypeMeta: metaKind("ConfigMap")},
	} {
		t.Run(name, func(t *testing.T) {
			spec, err := PodSpecOf(obj)
			if !errors.Is(err, ErrUnsupportedKind) || spec != nil {
				t.Errorf("PodSpecOf = %v, %v; want nil, ErrUnsupportedKind", spec, err)
			}
		})
	}
	if _, err := PodSpecOf(&corev1.Service{}); !strings.Contains(err.Error(), "v1.Service") {
		t.Errorf("error %q does not name the type", err)
	}
}

func metaKind(kind string) metav1.TypeMeta { return metav1.TypeMeta{Kind: kind, APIVersion: "v1"} }

// TestWorkloadKinds holds the table to the types: each kind's fresh object
// carries its type, PodSpecOf finds its spec, and PodSpecPath leads to that
// spec in the object's unstructured form.
func TestWorkloadKinds(t *testing.T) {
	kinds := WorkloadKinds()
	if len(kinds) != 9 {
		t.Errorf("%d kinds, want 9", len(kinds))
	}
	for _, k := range kinds {
		t.Run(k.Kind, func(t *testing.T) {
			obj := k.New()
			if gvk := obj.GetObjectKind().GroupVersionKind(); gvk.GroupVersion().String() != k.APIVersion || gvk.Kind != k.Kind {
				t.Errorf("New() has type %v, want %s %s", gvk, k.APIVersion, k.Kind)
			}
			spec, err := PodSpecOf(obj)
			if err != nil {
				t.Fatal(err)
			}
			spec.ServiceAccountName = "marker"
			u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
			if err != nil {
				t.Fatal(err)
			}
			got, found, err := unstructured.NestedString(u, append(slices.Clone(k.PodSpecPath), "serviceAccountName")...)
			if err != nil || !found || got != "marker" {
				t.Errorf("PodSpecPath %q does not lead to the pod spec: %q, %v, %v", k.PodSpecPath, got, found, err)
			}
		})
	}
	kinds[0].PodSpecPath[0] = "changed"
	if WorkloadKinds()[0].PodSpecPath[0] == "changed" {
		t.Error("WorkloadKinds hands out the table's own slices")
	}
}

// builtProxy is a proxy container the library built, with image.
