package main

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/podspec/cloudsqlproxy"
	"github.com/podspec/cloudsqlproxy/internal/podres"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

// scheme builds the typed object of a workload's kind, in which the
// library's PodSpecOf finds the pod spec that the manifest's is decoded into.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err) // static registration; cannot fail at run time
		}
	}
	return s
}()

// workloadKinds are the kinds that PodSpecOf accepts, with the one API
// version they are served under and where the manifest keeps their pod spec.
// TestWorkloadKinds holds the table to PodSpecOf.
var workloadKinds = map[string]struct {
	apiVersion string
	path       []string
}{
	"Pod":                   {"v1", []string{"spec"}},
	"PodTemplate":           {"v1", []string{"template", "spec"}},
	"ReplicationController": {"v1", []string{"spec", "template", "spec"}},
	"Deployment":            {"apps/v1", []string{"spec", "template", "spec"}},
	"StatefulSet":           {"apps/v1", []string{"spec", "template", "spec"}},
	"DaemonSet":             {"apps/v1", []string{"spec", "template", "spec"}},
	"ReplicaSet":            {"apps/v1", []string{"spec", "template", "spec"}},
	"Job":                   {"batch/v1", []string{"spec", "template", "spec"}},
	"CronJob":               {"batch/v1", []string{"spec", "jobTemplate", "spec", "template", "spec"}},
}

// workloadGroups are the API groups whose workload kinds the command owns:
// a workload kind under another version of them (apps/v1beta2,
// extensions/v1beta1, batch/v1beta1) is an error, not a silent pass-through.
// A kind of the same name in another group, such as Volcano's Job, is not
// a workload of these.
var workloadGroups = map[string]bool{"": true, "apps": true, "batch": true, "extensions": true}

type action int

const (
	inject action = iota
	remove
)

// transformer applies one command to a stream of documents.
type transformer struct {
	action action
	// pod is the proxy for every workload; job, when --job-timeout is set,
	// replaces it for Jobs and CronJobs.
	pod, job *cloudsqlproxy.Proxy
	legacy   bool
	selector labels.Selector // nil: no --selector
	names    []nameFilter

	workloads int // workloads selected
}

// nameFilter is one --name: a name, optionally with a namespace.
type nameFilter struct {
	namespace, name string
	hasNS           bool
	matched         bool
}

func parseNameFilter(s string) (nameFilter, error) {
	ns, name, hasNS := strings.Cut(s, "/")
	if !hasNS {
		ns, name = "", s
	}
	if name == "" || strings.Contains(name, "/") || (hasNS && ns == "") {
		return nameFilter{}, fmt.Errorf("invalid value %q for flag --name: want NAME or NAMESPACE/NAME", s)
	}
	return nameFilter{namespace: ns, name: name, hasNS: hasNS}, nil
}

// ref names a document, or an item of a List document, in errors.
type ref struct {
	doc    *document
	obj    map[string]any // nil when the document could not be read
	parent *ref           // the List holding obj
	item   int
}

func (r ref) String() string {
	if r.parent != nil {
		return fmt.Sprintf("%s, items[%d]%s", r.parent, r.item, describe(r.obj))
	}
	return fmt.Sprintf("%s:%d: document %d%s", r.doc.source, r.doc.line, r.doc.index, describe(r.obj))
}

// describe gives an object's kind and namespace/name, as in
// " (Deployment prod/web)".
func describe(obj map[string]any) string {
	if obj == nil {
		return ""
	}
	kind, _ := obj["kind"].(string)
	if kind == "" {
		kind = "object without kind"
	}
	meta, _ := obj["metadata"].(map[string]any)
	ns, _ := meta["namespace"].(string)
	name, _ := meta["name"].(string)
	if gen, _ := meta["generateName"].(string); name == "" && gen != "" {
		name = gen + "*"
	}
	switch {
	case name == "":
		return " (" + kind + ")"
	case ns == "":
		return " (" + kind + " " + name + ")"
	}
	return " (" + kind + " " + ns + "/" + name + ")"
}

// run transforms every document and returns the output stream, or the
// errors of every document that failed.
func (t *transformer) run(docs []*document) ([]byte, []string) {
	var out bytes.Buffer
	var errs []string
	for _, d := range docs {
		obj, err := d.decode()
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", ref{doc: d}, err))
			continue
		}
		if obj == nil {
			writeDocument(&out, d, d.raw)
			continue
		}
		changed, e := t.object(obj, ref{doc: d, obj: obj}, nil)
		errs = append(errs, e...)
		if len(e) > 0 || !changed {
			writeDocument(&out, d, d.raw)
			continue
		}
		y, err := yaml.Marshal(obj)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: encoding the result: %v", ref{doc: d, obj: obj}, err))
			continue
		}
		writeDocument(&out, d, append(slices.Clip(leadingComments(d.raw)), y...))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out.Bytes(), nil
}

// warnings are the stderr notes of a successful run: a --name that matched
// nothing, and a run that selected no workload at all, which in a pipeline
// would otherwise deploy manifests without the proxy unnoticed.
func (t *transformer) warnings() []string {
	var w []string
	for _, n := range t.names {
		if !n.matched {
			w = append(w, fmt.Sprintf("warning: --name %s matched no workload", n.String()))
		}
	}
	if t.workloads == 0 && t.action == inject {
		what := "the input holds no workload (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, PodTemplate, Job, CronJob)"
		if t.selector != nil || len(t.names) > 0 {
			what = "no workload of the input matches --selector/--name"
		}
		w = append(w, "warning: "+what+"; the output is the input")
	}
	return w
}

func (n nameFilter) String() string {
	if n.hasNS {
		return n.namespace + "/" + n.name
	}
	return n.name
}

// object transforms obj in place and reports whether it changed. prefix is
// the path of obj within its document (items[i] in a List).
func (t *transformer) object(obj map[string]any, r ref, prefix *field.Path) (bool, []string) {
	kind, _ := obj["kind"].(string)
	apiVersion, _ := obj["apiVersion"].(string)
	if items, ok := obj["items"].([]any); ok && strings.HasSuffix(kind, "List") {
		return t.list(items, r, prefix)
	}
	wk, isWorkload := workloadKinds[kind]
	if !isWorkload {
		return false, nil
	}
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil || !workloadGroups[gv.Group] {
		return false, nil
	}
	if apiVersion != wk.apiVersion {
		return false, []string{fmt.Sprintf("%s: apiVersion: Unsupported value: %q: current Kubernetes serves %s as %s only; convert the manifest (kubectl convert) first",
			r, apiVersion, kind, wk.apiVersion)}
	}
	path := wk.path
	typed, err := scheme.New(gv.WithKind(kind))
	if err != nil {
		return false, []string{fmt.Sprintf("%s: %v", r, err)}
	}
	if rc, ok := typed.(*corev1.ReplicationController); ok {
		// Its template is a pointer, nil in a fresh object, and PodSpecOf
		// rightly refuses a controller without one.
		rc.Spec.Template = &corev1.PodTemplateSpec{}
	}
	podSpec, err := cloudsqlproxy.PodSpecOf(typed)
	if err != nil {
		return false, []string{fmt.Sprintf("%s: %v", r, err)}
	}
	if !t.selected(obj) {
		return false, nil
	}
	t.workloads++

	specPath := prefix
	for _, p := range path {
		specPath = childPath(specPath, p)
	}
	specMap, err := nestedMap(obj, path, prefix)
	if err != nil {
		return false, []string{fmt.Sprintf("%s: %v", r, err)}
	}

	p := t.pod
	if kind == "Job" || kind == "CronJob" {
		if t.job != nil {
			p = t.job
		} else if t.legacy && t.action == inject {
			return false, []string{fmt.Sprintf("%s: --legacy-sidecar would keep the %s's pods running forever, since nothing stops a legacy sidecar; add --job-timeout (0s: the application stops the proxy through $%s)",
				r, kind, cloudsqlproxy.QuitURLsEnv)}
		}
	}
	merged, changed, errs := t.podSpec(specMap, podSpec, p, specPath)
	if len(errs) > 0 {
		for i := range errs {
			errs[i] = fmt.Sprintf("%s: %s", r, errs[i])
		}
		return false, errs
	}
	if changed {
		setNested(obj, path, merged)
	}
	return changed, nil
}

func (t *transformer) list(items []any, r ref, prefix *field.Path) (bool, []string) {
	var errs []string
	changed := false
	for i, item := range items {
		p := childPath(prefix, "items").Index(i)
		m, ok := item.(map[string]any)
		if !ok {
			errs = append(errs, fmt.Sprintf("%s: %s: not a Kubernetes object: the item is %s, not a mapping", r, p, describeJSON(item)))
			continue
		}
		c, e := t.object(m, ref{doc: r.doc, obj: m, parent: &r, item: i}, p)
		errs = append(errs, e...)
		changed = changed || c
	}
	return changed, errs
}

func childPath(p *field.Path, name string) *field.Path {
	if p == nil {
		return field.NewPath(name)
	}
	return p.Child(name)
}

// selected applies --selector and --name to a workload.
func (t *transformer) selected(obj map[string]any) bool {
	meta, _ := obj["metadata"].(map[string]any)
	if t.selector != nil {
		set := labels.Set{}
		if l, ok := meta["labels"].(map[string]any); ok {
			for k, v := range l {
				set[k] = fmt.Sprint(v)
			}
		}
		if !t.selector.Matches(set) {
			return false
		}
	}
	if len(t.names) == 0 {
		return true
	}
	name, _ := meta["name"].(string)
	ns, _ := meta["namespace"].(string)
	hit := false
	for i := range t.names {
		n := &t.names[i]
		if n.name == name && (!n.hasNS || n.namespace == ns) {
			n.matched, hit = true, true
		}
	}
	return hit
}

// nestedMap finds the pod spec. A workload without one is an error: there
// is nothing sensible to inject into, and a Deployment with only a proxy in
// it is not what anyone wants.
func nestedMap(obj map[string]any, path []string, prefix *field.Path) (map[string]any, error) {
	cur := obj
	p := prefix
	for _, k := range path {
		p = childPath(p, k)
		v, ok := cur[k]
		if !ok || v == nil {
			return nil, field.Required(p, "the workload has no pod spec to add the proxy to")
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, field.Invalid(p, v, "must be a mapping")
		}
		cur = m
	}
	return cur, nil
}

func setNested(obj map[string]any, path []string, v map[string]any) {
	cur := obj
	for _, k := range path[:len(path)-1] {
		cur = cur[k].(map[string]any)
	}
	cur[path[len(path)-1]] = v
}

// podSpec runs Attach or Detach on the typed pod spec and replays the
// change onto the original map (see merge.go). spec is the zero PodSpec
// inside a fresh typed object; path is the pod spec's place in the document.
func (t *transformer) podSpec(orig map[string]any, spec *corev1.PodSpec, p *cloudsqlproxy.Proxy, path *field.Path) (map[string]any, bool, []string) {
	conv := runtime.DefaultUnstructuredConverter
	if err := conv.FromUnstructured(orig, spec); err != nil {
		return nil, false, decodeErrors(orig, reflect.TypeOf(spec).Elem(), path, err)
	}
	r0, err := conv.ToUnstructured(spec)
	if err != nil {
		return nil, false, []string{fmt.Sprintf("%s: %v", path, err)}
	}
	if t.action == inject {
		err = p.Attach(spec)
	} else {
		err = p.Detach(spec)
	}
	if err == nil && t.action == inject {
		err = podLevelResources(orig, spec, p.Name())
	}
	if err != nil {
		return nil, false, libraryErrors(err, path)
	}
	r1, err := conv.ToUnstructured(spec)
	if err != nil {
		return nil, false, []string{fmt.Sprintf("%s: %v", path, err)}
	}
	if reflect.DeepEqual(r0, r1) {
		return nil, false, nil
	}
	merged := merger{proxyName: p.Name()}.merge(orig, r0, r1, "").(map[string]any)

	// The merge must mean exactly what the library produced; a difference
	// would be a bug here, and is reported rather than written.
	var check corev1.PodSpec
	if err := conv.FromUnstructured(merged, &check); err != nil || !equality.Semantic.DeepEqual(&check, spec) {
		return nil, false, []string{fmt.Sprintf("%s: internal error: the merged pod spec differs from the library's (please report this with the input)", path)}
	}
	return merged, true, nil
}

// podLevelResources is the library's check of pod-level resources, for the
// manifests that set them when the compiled types cannot hold them (the
// library then never sees them).
func podLevelResources(orig map[string]any, spec *corev1.PodSpec, proxy string) error {
	raw, ok := orig["resources"].(map[string]any)
	if _, known := podres.Of(spec); known || !ok {
		return nil
	}
	var pod corev1.ResourceRequirements
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &pod); err != nil {
		return nil // not the proxy's field: the API server will name what is wrong
	}
	if errs := podres.Check(&pod, spec.InitContainers, spec.Containers, proxy); len(errs) > 0 {
		return fmt.Errorf("%w: %w", cloudsqlproxy.ErrConflict, errs.ToAggregate())
	}
	return nil
}

// libraryErrors turns the library's error into one line per field error,
// with field paths from the document's root.
func libraryErrors(err error, path *field.Path) []string {
	var agg utilerrors.Aggregate
	if !errors.As(err, &agg) {
		return []string{fmt.Sprintf("%s: %v", path, err)}
	}
	var out []string
	for _, e := range agg.Errors() {
		var fe *field.Error
		if errors.As(e, &fe) {
			out = append(out, path.String()+"."+fe.Field+": "+optionNames.Replace(fe.ErrorBody()))
		} else {
			out = append(out, fmt.Sprintf("%s: %v", path, e))
		}
	}
	return out
}

// decodeErrors finds every value of the pod spec that its Go type cannot
// hold, since the converter reports only the first and without a path.
func decodeErrors(orig map[string]any, t reflect.Type, path *field.Path, err error) []string {
	var out []string
	for _, fe := range locate(orig, t, path) {
		out = append(out, fe.Error())
	}
	if len(out) == 0 {
		out = append(out, fmt.Sprintf("%s: %v", path, err))
	}
	return out
}

// locate returns the innermost values under v that do not decode into t.
func locate(v any, t reflect.Type, p *field.Path) field.ErrorList {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var errs field.ErrorList
	switch {
	case t.Kind() == reflect.Struct && isMap(v) && !customDecoding(t):
		m := v.(map[string]any)
		for _, k := range sortedKeys(m) {
			ft, ok := jsonField(t, k)
			if ok && !decodes(m[k], ft) {
				errs = append(errs, locate(m[k], ft, p.Child(k))...)
			}
		}
	case t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8 && isList(v):
		for i, e := range v.([]any) {
			if !decodes(e, t.Elem()) {
				errs = append(errs, locate(e, t.Elem(), p.Index(i))...)
			}
		}
	case t.Kind() == reflect.Map && isMap(v):
		m := v.(map[string]any)
		for _, k := range sortedKeys(m) {
			if !decodes(m[k], t.Elem()) {
				errs = append(errs, locate(m[k], t.Elem(), p.Key(k))...)
			}
		}
	}
	if len(errs) == 0 {
		errs = append(errs, field.Invalid(p, v, "cannot be read as "+describeType(t)))
	}
	return errs
}

func isMap(v any) bool  { _, ok := v.(map[string]any); return ok }
func isList(v any) bool { _, ok := v.([]any); return ok }

// customDecoding tells types that decode themselves (Quantity, IntOrString,
// Time) from plain structs.
func customDecoding(t reflect.Type) bool {
	type unmarshaler interface{ UnmarshalJSON([]byte) error }
	return reflect.PointerTo(t).Implements(reflect.TypeOf((*unmarshaler)(nil)).Elem())
}

// decodes reports whether v converts to a value of type t.
func decodes(v any, t reflect.Type) bool {
	wrapper := reflect.StructOf([]reflect.StructField{{Name: "V", Type: t, Tag: `json:"v"`}})
	return runtime.DefaultUnstructuredConverter.FromUnstructured(map[string]any{"v": v}, reflect.New(wrapper).Interface()) == nil
}

// jsonField finds the struct field (or field of an inlined struct) that the
// JSON key k fills.
func jsonField(t reflect.Type, k string) (reflect.Type, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == k {
			return f.Type, true
		}
		if (f.Anonymous || strings.Contains(","+opts+",", ",inline,")) && name == "" && f.Type.Kind() == reflect.Struct {
			if ft, ok := jsonField(f.Type, k); ok {
				return ft, true
			}
		}
	}
	return nil, false
}

func describeType(t reflect.Type) string {
	switch t.String() {
	case "resource.Quantity":
		return "a quantity such as 250m or 1Gi"
	case "intstr.IntOrString":
		return "an integer or a string"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	}
	return t.String()
}

// sortedKeys gives a map's keys in order, so errors come out in a stable
// order.
func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
