package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/warning"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
	_ "k8s.io/kubernetes/pkg/apis/apps/install"
	_ "k8s.io/kubernetes/pkg/apis/batch/install"
	_ "k8s.io/kubernetes/pkg/apis/core/install"
	"k8s.io/kubernetes/pkg/registry/apps/daemonset"
	"k8s.io/kubernetes/pkg/registry/apps/deployment"
	"k8s.io/kubernetes/pkg/registry/apps/replicaset"
	"k8s.io/kubernetes/pkg/registry/apps/statefulset"
	"k8s.io/kubernetes/pkg/registry/batch/cronjob"
	"k8s.io/kubernetes/pkg/registry/batch/job"
	"k8s.io/kubernetes/pkg/registry/core/pod"
	"k8s.io/kubernetes/pkg/registry/core/podtemplate"
	"k8s.io/kubernetes/pkg/registry/core/replicationcontroller"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"

	"github.com/podspec/cloudsqlproxy"
)

// ValidateNamespace is the namespace objects are validated in when they name none.
const ValidateNamespace = "e2e"

// KubernetesVersion is the version of k8s.io/kubernetes whose code ValidateObject runs,
// as this module's go.mod requires it (test binaries carry no module versions).
func KubernetesVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "k8s.io/kubernetes" {
				return d.Version
			}
		}
	}
	if dir, err := moduleDir(); err == nil {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil {
			for _, line := range strings.Split(string(data), "\n") {
				if f := strings.Fields(line); len(f) >= 2 && f[0] == "k8s.io/kubernetes" && strings.HasPrefix(f[1], "v") {
					return f[1]
				}
			}
		}
	}
	return "(unknown version)"
}

// ValidatePod is ValidateObject for a Pod.
func ValidatePod(p *corev1.Pod) error { return ValidateObject(p) }

// ValidateObject runs, in-process, what a Kubernetes API server does when the object is
// created, with the apiserver's own code at the version this module pins: defaulting,
// conversion to the internal type, the resource's registry strategy (dropping disabled
// fields, validation, warnings) through the same rest.BeforeCreate the server calls, then
// Pod Security "restricted" at the latest version on the (defaulted) pod or pod template.
// Every warning counts as an error: a spec the library generates must be accepted silently.
//
// Supported: Pod, PodTemplate and ReplicationController (core/v1); Deployment, StatefulSet,
// DaemonSet and ReplicaSet (apps/v1); Job and CronJob (batch/v1). The object is not
// modified. It returns nil or one error listing every problem.
func ValidateObject(obj runtime.Object) error {
	c, meta, podMeta, podSpec, err := prepare(obj.DeepCopyObject())
	if err != nil {
		return err
	}
	var errs []error
	if err := apiserverCreate(c, meta.Namespace); err != nil {
		errs = append(errs, err)
	}
	if err := podSecurityRestricted(podMeta, podSpec); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

type created struct {
	obj      runtime.Object
	s        rest.RESTCreateStrategy
	resource string
}

// strategies are the registry strategies the API server creates each kind of
// cloudsqlproxy.WorkloadKinds with; TestValidateKnowsEveryWorkloadKind keeps them in step.
var strategies = map[string]rest.RESTCreateStrategy{
	"Pod":                   pod.Strategy,
	"PodTemplate":           podtemplate.Strategy,
	"ReplicationController": replicationcontroller.Strategy,
	"Deployment":            deployment.Strategy,
	"StatefulSet":           statefulset.Strategy,
	"DaemonSet":             daemonset.Strategy,
	"ReplicaSet":            replicaset.Strategy,
	"Job":                   job.Strategy,
	"CronJob":               cronjob.Strategy,
}

// prepare defaults obj (a private copy) and finds its strategy and pod template, where
// the library's WorkloadKinds say they are.
func prepare(obj runtime.Object) (created, *metav1.ObjectMeta, *metav1.ObjectMeta, *corev1.PodSpec, error) {
	legacyscheme.Scheme.Default(obj)
	k, ok := workloadKindOf(obj)
	s := strategies[k.Kind]
	if !ok || s == nil {
		return created{}, nil, nil, nil, fmt.Errorf("unsupported object %T", obj)
	}
	spec, err := cloudsqlproxy.PodSpecOf(obj)
	if err != nil {
		return created{}, nil, nil, nil, fmt.Errorf("%s without a template", k.Kind)
	}
	meta := objectMetaAt(obj, "metadata")
	podMeta := objectMetaAt(obj, append(slices.Clone(k.PodSpecPath[:len(k.PodSpecPath)-1]), "metadata")...)
	if meta.Namespace == "" {
		meta.Namespace = ValidateNamespace
	}
	return created{obj, s, resourceOf(k.Kind)}, meta, podMeta, spec, nil
}

// workloadKindOf finds obj's type among the library's workload kinds.
func workloadKindOf(obj runtime.Object) (cloudsqlproxy.WorkloadKind, bool) {
	for _, k := range cloudsqlproxy.WorkloadKinds() {
		if reflect.TypeOf(k.New()) == reflect.TypeOf(obj) {
			return k, true
		}
	}
	return cloudsqlproxy.WorkloadKind{}, false
}

// objectMetaAt follows JSON field names from obj, a pointer to a struct, through
// pointers, to an ObjectMeta: path is a WorkloadKind's PodSpecPath with "metadata" for
// its last element, or just "metadata".
func objectMetaAt(obj runtime.Object, path ...string) *metav1.ObjectMeta {
	v := reflect.ValueOf(obj)
	for _, name := range path {
		for v.Kind() == reflect.Pointer {
			v = v.Elem()
		}
		t, next := v.Type(), reflect.Value{}
		for i := 0; i < t.NumField() && !next.IsValid(); i++ {
			if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); tag == name {
				next = v.Field(i)
			}
		}
		if !next.IsValid() {
			panic(fmt.Sprintf("%T has no field %q on the path %q", obj, name, path))
		}
		v = next
	}
	return v.Addr().Interface().(*metav1.ObjectMeta)
}

// resourceOf is the API resource of a workload kind: every one's plural is regular.
func resourceOf(kind string) string { return strings.ToLower(kind) + "s" }

// apiserverCreate converts the defaulted versioned object to its internal type and runs
// the create path of the generic registry on it.
func apiserverCreate(c created, namespace string) error {
	obj, s := c.obj, c.s
	gvks, _, err := legacyscheme.Scheme.ObjectKinds(obj)
	if err != nil {
		return err
	}
	gvk := gvks[0]
	internal, err := legacyscheme.Scheme.New(gvk.GroupKind().WithVersion(runtime.APIVersionInternal))
	if err != nil {
		return err
	}
	if err := legacyscheme.Scheme.Convert(obj, internal, nil); err != nil {
		return fmt.Errorf("converting %s to the internal version: %w", gvk.Kind, err)
	}
	m, err := metaOf(internal)
	if err != nil {
		return err
	}
	// The request handler does this before the strategy runs.
	rest.FillObjectMetaSystemFields(m)
	if m.GetName() == "" && m.GetGenerateName() != "" {
		m.SetName(s.GenerateName(m.GetGenerateName()))
	}
	rec := &recorder{}
	ctx := genericapirequest.WithNamespace(warning.WithWarningRecorder(context.Background(), rec), namespace)
	// Declarative validation names its checks after the request, as the server's handler
	// chain records it.
	prefix := "apis"
	if gvk.Group == "" {
		prefix = "api"
	}
	ctx = genericapirequest.WithRequestInfo(ctx, &genericapirequest.RequestInfo{
		IsResourceRequest: true,
		Verb:              "create",
		APIPrefix:         prefix,
		APIGroup:          gvk.Group,
		APIVersion:        gvk.Version,
		Namespace:         namespace,
		Resource:          c.resource,
		Name:              m.GetName(),
	})
	var errs []error
	if err := rest.BeforeCreate(s, ctx, internal); err != nil {
		errs = append(errs, fmt.Errorf("kube-apiserver validation: %w", err))
	}
	for _, w := range rec.warnings {
		errs = append(errs, fmt.Errorf("kube-apiserver warning: %s", w))
	}
	return errors.Join(errs...)
}

func metaOf(obj runtime.Object) (metav1.Object, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("%T has no ObjectMeta", obj)
	}
	return m, nil
}

type recorder struct {
	mu       sync.Mutex
	warnings []string
}

func (r *recorder) AddWarning(_, text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.warnings = append(r.warnings, text)
}

var (
	evaluatorOnce sync.Once
	evaluator     policy.Evaluator
	evaluatorErr  error
)

// podSecurityRestricted evaluates Pod Security "restricted" at the latest version, the
// policy a namespace labelled pod-security.kubernetes.io/enforce=restricted applies.
func podSecurityRestricted(meta *metav1.ObjectMeta, spec *corev1.PodSpec) error {
	evaluatorOnce.Do(func() {
		evaluator, evaluatorErr = policy.NewEvaluator(policy.DefaultChecks(), nil)
	})
	if evaluatorErr != nil {
		return evaluatorErr
	}
	lv := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	res := policy.AggregateCheckResults(evaluator.EvaluatePod(lv, meta, spec))
	if res.Allowed {
		return nil
	}
	var errs []error
	for i, r := range res.ForbiddenReasons {
		errs = append(errs, fmt.Errorf("pod security %q: %s (%s)", "restricted:latest", r, res.ForbiddenDetails[i]))
	}
	return errors.Join(errs...)
}
