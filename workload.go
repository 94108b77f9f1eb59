package cloudsqlproxy

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// WorkloadKind is a kind of object with a pod spec inside, as [PodSpecOf]
// finds it.
type WorkloadKind struct {
	// APIVersion and Kind are the object's type, such as "apps/v1" and
	// "Deployment": the one version current Kubernetes serves the kind as.
	APIVersion, Kind string
	// PodSpecPath is where a manifest keeps the pod spec, such as
	// ["spec", "template", "spec"].
	PodSpecPath []string

	newObject func() runtime.Object
	podSpec   func(runtime.Object) (*corev1.PodSpec, bool)
}

// New returns an empty object of the kind, with its type set, in which
// [PodSpecOf] finds the pod spec (a ReplicationController comes with an
// empty template).
func (k WorkloadKind) New() runtime.Object { return k.newObject() }

// workloadKinds is the one table of workload kinds; PodSpecOf, the command
// and the tests all read it.
var workloadKinds = []WorkloadKind{
	workload("v1", "Pod", func(o *corev1.Pod) *corev1.PodSpec { return &o.Spec }, "spec"),
	workload("apps/v1", "Deployment", func(o *appsv1.Deployment) *corev1.PodSpec { return &o.Spec.Template.Spec }, "spec", "template", "spec"),
	workload("apps/v1", "StatefulSet", func(o *appsv1.StatefulSet) *corev1.PodSpec { return &o.Spec.Template.Spec }, "spec", "template", "spec"),
	workload("apps/v1", "DaemonSet", func(o *appsv1.DaemonSet) *corev1.PodSpec { return &o.Spec.Template.Spec }, "spec", "template", "spec"),
	workload("apps/v1", "ReplicaSet", func(o *appsv1.ReplicaSet) *corev1.PodSpec { return &o.Spec.Template.Spec }, "spec", "template", "spec"),
	workload("v1", "ReplicationController", func(o *corev1.ReplicationController) *corev1.PodSpec {
		if o.Spec.Template == nil {
			return nil
		}
		return &o.Spec.Template.Spec
	}, "spec", "template", "spec"),
	workload("v1", "PodTemplate", func(o *corev1.PodTemplate) *corev1.PodSpec { return &o.Template.Spec }, "template", "spec"),
	workload("batch/v1", "Job", func(o *batchv1.Job) *corev1.PodSpec { return &o.Spec.Template.Spec }, "spec", "template", "spec"),
	workload("batch/v1", "CronJob", func(o *batchv1.CronJob) *corev1.PodSpec { return &o.Spec.JobTemplate.Spec.Template.Spec },
		"spec", "jobTemplate", "spec", "template", "spec"),
}

// workload makes a table entry for the object type T, whose pod spec spec
// finds.
func workload[T any, PT interface {
	*T
	runtime.Object
}](apiVersion, kind string, spec func(PT) *corev1.PodSpec, path ...string) WorkloadKind {
	return WorkloadKind{
		APIVersion:  apiVersion,
		Kind:        kind,
		PodSpecPath: path,
		newObject: func() runtime.Object {
			obj := PT(new(T))
			obj.GetObjectKind().SetGroupVersionKind(schema.FromAPIVersionAndKind(apiVersion, kind))
			if rc, ok := any(obj).(*corev1.ReplicationController); ok {
				rc.Spec.Template = &corev1.PodTemplateSpec{}
			}
			return obj
		},
		podSpec: func(obj runtime.Object) (*corev1.PodSpec, bool) {
			o, ok := obj.(PT)
			if !ok || o == nil {
				return nil, false
			}
			s := spec(o)
			return s, s != nil
		},
	}
}

// WorkloadKinds lists every kind [PodSpecOf] accepts, in a fixed order.
// The result is a fresh copy.
func WorkloadKinds() []WorkloadKind {
	out := slices.Clone(workloadKinds)
	for i := range out {
		out[i].PodSpecPath = slices.Clone(out[i].PodSpecPath)
	}
	return out
}

// PodSpecOf returns a pointer to the pod spec inside a workload object, so
// that [Proxy.Attach] changes the object itself: the spec of a Pod, or the
// pod template's spec of every other kind [WorkloadKinds] lists
// (PodTemplate, ReplicationController, Deployment, StatefulSet, DaemonSet,
// ReplicaSet, Job and CronJob; core/v1, apps/v1 and batch/v1 types). Any
// other object is an error wrapping [ErrUnsupportedKind]; so is a nil
// object or a ReplicationController without a template.
func PodSpecOf(obj runtime.Object) (*corev1.PodSpec, error) {
	for _, k := range workloadKinds {
		if spec, ok := k.podSpec(obj); ok {
			return spec, nil
		}
	}
	return nil, fmt.Errorf("%w: %s", ErrUnsupportedKind, kindOf(obj))
}

func kindOf(obj runtime.Object) string {
	if obj == nil {
		return "nil"
	}
	// A typed nil would panic in GetObjectKind.
	if v := reflect.ValueOf(obj); v.Kind() == reflect.Pointer && v.IsNil() {
		return fmt.Sprintf("nil %T", obj)
	}
	if k := obj.GetObjectKind().GroupVersionKind().Kind; k != "" {
		return k
	}
	return strings.TrimPrefix(fmt.Sprintf("%T", obj), "*")
}
