package main

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/podspec/cloudsqlproxy"
	"github.com/podspec/cloudsqlproxy/cmd/cloudsqlproxy/internal/yamledit"
	"github.com/podspec/cloudsqlproxy/internal/podres"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// workloadKinds are the library's workload kinds by name: the one API
// version each is served under, where the manifest keeps its pod spec, and
// the typed object the spec is decoded into.
var workloadKinds = func() map[string]workload {
	m := map[string]workload{}
	for _, k := range cloudsqlproxy.WorkloadKinds() {
		m[k.Kind] = workload{apiVersion: k.APIVersion, path: k.PodSpecPath, kind: k}
	}
	return m
}()

type workload struct {
	apiVersion string
	path       []string
	kind       cloudsqlproxy.WorkloadKind
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
	// podOpts and jobOpts are their options without the instances, laid
	// over the settings of a workload's own proxy when it is adopted;
	// instances are --instance's, which replace the adopted ones.
	podOpts, jobOpts []cloudsqlproxy.Option
	instances        []string
	adopt            bool
	// appNameFrom: each workload's proxy gets its metadata.name as the
	// metrics' application name (--application-name-from-workload).
	appNameFrom bool
	legacy      bool
	selector    labels.Selector // nil: no --selector
	names       []nameFilter
	// includeHelmTests: Helm test hooks get the proxy too (--include-helm-tests).
	includeHelmTests bool
	// emptyOK: an input holding no object is not an error (a file of a
	// directory, in an in-place run).
	emptyOK bool

	workloads int // workloads selected
	noProxy   int // left alone: no --instance and no proxy of their own
	optedOut  int // selected, and annotated to be left alone
	helmTests int // selected, and Helm test hooks

	// flagNames words the library's problems with the command's flags.
	flagNames flagNames

	scalars *yamledit.ScalarCache // shared by the documents, see renderer
	// rewritten says where documents were written anew rather than edited.
	rewritten []string
	// notes say, workload by workload, what a migration changed or left
	// alone and why; cur is the workload being changed, which they name.
	notes []string
	cur   ref
	// adoption is what the workload being changed adopted, if anything.
	adoption *cloudsqlproxy.Adoption
}

// ref names a document, or an item of a List document, in errors.
type ref struct {
	doc    *yamledit.Document
	obj    map[string]any // nil when the document could not be read
	parent *ref           // the List holding obj
	item   int
	path   string // obj's field path in the document: "" or items[i]
}

// at is the start of a problem's message: file, line and the object. The
// line is field's (a path from the document's root), or the object's when
// field is "" or not in the text.
func (r ref) at(field string) string {
	if field == "" {
		field = r.path
	}
	return fmt.Sprintf("%s:%d: %s", r.doc.Source(), r.doc.Line()+r.doc.FieldLine(field)-1, r.name())
}

func (r ref) name() string {
	if r.parent != nil {
		return fmt.Sprintf("%s, items[%d]%s", r.parent.name(), r.item, describe(r.obj))
	}
	return fmt.Sprintf("document %d%s", r.doc.Index(), describe(r.obj))
}

// report puts r before a problem that starts with the field path it is
// about ("spec.containers[0].image: Invalid value: ..."), at that field's
// line.
func (r ref) report(problem string) string {
	field, _, _ := strings.Cut(problem, ": ")
	if strings.ContainsAny(field, " \"") {
		field = ""
	}
	return r.at(field) + ": " + problem
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
func (t *transformer) run(docs []*yamledit.Document) ([]byte, []string) {
	if t.scalars == nil {
		t.scalars = yamledit.NewScalarCache()
	}
	bodies := make([][]byte, len(docs))
	var errs []string
	var inputs []string
	holds := map[string]bool{} // inputs holding an object (or a broken one)
	for i, d := range docs {
		bodies[i] = d.Raw()
		if _, seen := holds[d.Input()]; !seen {
			holds[d.Input()] = false
			inputs = append(inputs, d.Input())
		}
		if d.Index() == 0 {
			continue
		}
		obj, err := d.Decode()
		if err != nil {
			holds[d.Input()] = true
			line := d.FirstContentLine()
			var le *yamledit.LineError
			if errors.As(err, &le) {
				line = le.Line
			}
			errs = append(errs, fmt.Sprintf("%s:%d: document %d: %v", d.Source(), d.Line()+line-1, d.Index(), err))
			continue
		}
		if obj == nil {
			continue
		}
		holds[d.Input()] = true
		var changes []yamledit.Change
		e := t.object(obj, ref{doc: d, obj: obj}, nil, nil, &changes)
		if len(e) > 0 || len(changes) == 0 {
			errs = append(errs, e...)
			continue
		}
		body, anew, ok := d.Splice(changes, obj, t.scalars)
		r := ref{doc: d, obj: obj}
		switch {
		case !ok:
			if body, err = d.Rewrite(obj); err != nil {
				errs = append(errs, fmt.Sprintf("%s: encoding the result: %v", r.at(""), err))
				continue
			}
			t.rewritten = append(t.rewritten, r.at("")+": written anew as a whole (sorted keys, only its leading comments kept)")
		case anew > 0:
			t.rewritten = append(t.rewritten, fmt.Sprintf("%s:%d: %s: a part written anew", d.Source(), d.Line()+anew-1, r.name()))
		}
		bodies[i] = body
	}
	for _, in := range inputs {
		if !holds[in] && !t.emptyOK {
			errs = append(errs, emptyInput(in))
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return yamledit.Write(docs, bodies), nil
}

// emptyInput is the error of an -f argument that holds no object. A failed
// "helm template" or "kustomize build" upstream prints nothing, and a
// pipeline that went on would deploy nothing, or nothing new, without a
// word; kubectl apply refuses such input too ("no objects passed to
// apply").
func emptyInput(in string) string {
	what := in
	switch {
	case in == "-":
		what = yamledit.StdinName
	case isDir(in):
		return fmt.Sprintf("%s: no Kubernetes object in the directory's files: they are empty or hold only comments and --- lines", in)
	}
	return fmt.Sprintf("%s: no Kubernetes object in the input: it is empty or holds only comments and --- lines (did the command that produced it, such as helm template, fail?)", what)
}

func isDir(p string) bool {
	info, err := os.Stat(p)
	return err == nil && info.IsDir()
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
	for _, r := range t.rewritten {
		if t.action == inject {
			w = append(w, "note: "+r+": its layout (YAML anchors, aliases or merge keys, comments inside flow collections) cannot be edited in place, so remove cannot give back its exact text")
		} else {
			w = append(w, "note: "+r+": its layout (YAML anchors, aliases or merge keys, comments inside flow collections) or what the record puts back could not be edited in place, so its text is not the input's")
		}
	}
	w = append(w, t.notes...)
	var skipped []string
	if t.optedOut > 0 {
		skipped = append(skipped, plural(t.optedOut, "workload")+" annotated "+injectAnnotation+`: "false"`)
	}
	if t.helmTests > 0 {
		skipped = append(skipped, plural(t.helmTests, "Helm test hook")+" (--include-helm-tests includes them)")
	}
	if t.noProxy > 0 {
		skipped = append(skipped, plural(t.noProxy, "workload")+" without a proxy of its own to adopt (--instance gives them one)")
	}
	if len(skipped) > 0 {
		w = append(w, "note: left alone: "+strings.Join(skipped, ", "))
	}
	if t.workloads == 0 && t.action == inject && len(skipped) == 0 {
		what := "the input holds no workload (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, PodTemplate, Job, CronJob)"
		if t.selector != nil || len(t.names) > 0 {
			what = "no workload of the input matches --selector/--name"
		}
		w = append(w, "warning: "+what+"; the output is the input")
	}
	return w
}

// object transforms obj in place and records what it changed in changes.
// prefix is the path of obj within its document (items[i] in a List), and
// at the same place in the form changes use.
func (t *transformer) object(obj map[string]any, r ref, prefix *field.Path, at []any, changes *[]yamledit.Change) []string {
	kind, _ := obj["kind"].(string)
	if items, ok := obj["items"].([]any); ok && strings.HasSuffix(kind, "List") {
		return t.list(items, r, prefix, at, changes)
	}
	wk, ok := workloadOf(obj)
	if !ok {
		return nil
	}
	// Selection and opting out read labels and annotations only, so they
	// come before the checks that the workload can take the proxy: a
	// workload left alone passes through whatever it holds.
	if leave, problems := t.passes(obj, wk, r, prefix); leave || len(problems) > 0 {
		return problems
	}
	podSpec, problems := t.admit(obj, wk, r, prefix)
	if len(problems) > 0 {
		return problems
	}
	pl, err := placeOf(obj, wk.path, prefix)
	if err != nil {
		return []string{r.report(err.Error())}
	}
	p, opts, problems := t.proxyFor(kind, r)
	if len(problems) > 0 {
		return problems
	}
	if err := pl.metadataHoldsRecord(); err != nil {
		return []string{r.report(err.Error())}
	}
	t.cur, t.adoption = r, nil
	merged, newMeta, changed, errs := t.podSpec(pl.spec, pl.tmpl, podSpec, p, opts, pl.specPath, pl.objPath)
	if len(errs) > 0 {
		for i := range errs {
			errs[i] = r.report(errs[i])
		}
		return errs
	}
	if changed {
		t.notes = append(t.notes, t.adoptedNotes(r, pl, t.adoption)...)
		pl.writeBack(obj, merged, newMeta, at, changes)
	}
	return nil
}

// workloadOf finds the workload kind of obj; a kind of the same name in
// another API group is none.
func workloadOf(obj map[string]any) (workload, bool) {
	kind, _ := obj["kind"].(string)
	apiVersion, _ := obj["apiVersion"].(string)
	wk, isWorkload := workloadKinds[kind]
	if !isWorkload {
		return workload{}, false
	}
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil || !workloadGroups[gv.Group] {
		return workload{}, false
	}
	return wk, true
}

// admit checks that a selected workload is one the library can change, and
// counts it; podSpec is the zero pod spec inside a fresh typed object of
// its kind.
func (t *transformer) admit(obj map[string]any, wk workload, r ref, prefix *field.Path) (podSpec *corev1.PodSpec, problems []string) {
	kind, _ := obj["kind"].(string)
	apiVersion, _ := obj["apiVersion"].(string)
	if apiVersion != wk.apiVersion {
		return nil, []string{r.report(fmt.Sprintf("%s: Unsupported value: %q: current Kubernetes serves %s as %s only; convert the manifest (kubectl convert) first",
			childPath(prefix, "apiVersion"), apiVersion, kind, wk.apiVersion))}
	}
	podSpec, err := cloudsqlproxy.PodSpecOf(wk.kind.New())
	if err != nil {
		return nil, []string{fmt.Sprintf("%s: %v", r.at(""), err)}
	}
	t.workloads++
	return podSpec, nil
}

// proxyFor chooses the proxy and options for a workload of kind: Jobs and
// CronJobs get the Job proxy when --job-timeout is set.
func (t *transformer) proxyFor(kind string, r ref) (*cloudsqlproxy.Proxy, []cloudsqlproxy.Option, []string) {
	p, opts := t.pod, t.podOpts
	if kind == "Job" || kind == "CronJob" {
		if t.jobOpts != nil {
			p, opts = t.job, t.jobOpts
		} else if t.legacy && t.action == inject {
			return nil, nil, []string{fmt.Sprintf("%s: --legacy-sidecar would keep the %s's pods running forever, since nothing stops a legacy sidecar; add --job-timeout (0s: the application stops the proxy through $%s)",
				r.at(""), kind, cloudsqlproxy.QuitURLsEnv)}
		}
	}
	if t.appNameFrom && t.action == inject {
		return t.namedFor(p, opts, r)
	}
	return p, opts, nil
}

// namedFor adds the workload's name as the metrics' application name to
// the options, and rebuilds the proxy with them when --instance gave one.
func (t *transformer) namedFor(p *cloudsqlproxy.Proxy, opts []cloudsqlproxy.Option, r ref) (*cloudsqlproxy.Proxy, []cloudsqlproxy.Option, []string) {
	meta, _ := r.obj["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	if name == "" {
		return p, opts, nil
	}
	opts = append(slices.Clip(opts), cloudsqlproxy.WithApplicationName(name))
	if p == nil {
		return nil, opts, nil
	}
	named, err := newWith(t.instances, opts)
	if err != nil {
		var problems []string
		for _, e := range t.flagNames.config(err) {
			problems = append(problems, fmt.Sprintf("%s: --application-name-from-workload: %s", r.at("metadata.name"), e))
		}
		return nil, nil, problems
	}
	return named, opts, nil
}

// A place is where a workload keeps its pod spec and the metadata beside
// it (where the injection record goes): they change together, as one
// change of the object holding both.
type place struct {
	path       []string // of the pod spec, from the object
	holderPath []string // of the object holding spec and metadata
	holder     map[string]any
	spec       map[string]any
	tmpl       map[string]any // the metadata, nil when there is none
	specPath   *field.Path
	objPath    *field.Path // of the holder: where the record's paths start
	metaPath   *field.Path
}

// placeOf finds the pod spec along path, and its holder.
func placeOf(obj map[string]any, path []string, prefix *field.Path) (*place, error) {
	pl := &place{path: path, holderPath: path[:len(path)-1], holder: obj, tmpl: templateMeta(obj, path)}
	pl.specPath = prefix
	for _, p := range path {
		pl.specPath = childPath(pl.specPath, p)
	}
	var err error
	if pl.spec, err = nestedMap(obj, path, prefix); err != nil {
		return nil, err
	}
	if len(pl.holderPath) > 0 {
		if pl.holder, err = nestedMap(obj, pl.holderPath, prefix); err != nil {
			return nil, err
		}
	}
	metaPath := prefix
	for _, k := range pl.holderPath {
		metaPath = childPath(metaPath, k)
	}
	pl.objPath = metaPath
	pl.metaPath = childPath(metaPath, "metadata")
	return pl, nil
}

// metadataHoldsRecord checks that the metadata beside the pod spec can
// take the injection record: anything but a mapping would be lost.
func (pl *place) metadataHoldsRecord() error {
	if mv, ok := pl.holder["metadata"]; ok && mv != nil {
		if _, isMap := mv.(map[string]any); !isMap {
			return field.Invalid(pl.metaPath, mv, "must be a mapping")
		}
	}
	return nil
}

// writeBack puts the changed pod spec and metadata into obj, and records
// the changes for the splicer.
func (pl *place) writeBack(obj, merged, newMeta map[string]any, at []any, changes *[]yamledit.Change) {
	newHolder := make(map[string]any, len(pl.holder)+1)
	for k, v := range pl.holder {
		newHolder[k] = v
	}
	newHolder[pl.path[len(pl.path)-1]] = merged
	if newMeta != nil {
		newHolder["metadata"] = newMeta
	} else {
		delete(newHolder, "metadata")
	}
	*changes = append(*changes, pl.changes(newHolder, merged, newMeta, at)...)
	if len(pl.holderPath) == 0 {
		for k := range obj {
			delete(obj, k)
		}
		for k, v := range newHolder {
			obj[k] = v
		}
	} else {
		setNested(obj, pl.holderPath, newHolder)
	}
}

// changes are the edits of the holder becoming newHolder. Separate changes
// of the spec and of the metadata keep the edits small; metadata that
// comes or goes changes with its holder.
func (pl *place) changes(newHolder, merged, newMeta map[string]any, at []any) []yamledit.Change {
	full := slices.Clip(at)
	for _, k := range pl.holderPath {
		full = append(full, k)
	}
	if _, hasMeta := pl.holder["metadata"]; !hasMeta || newMeta == nil {
		var typ reflect.Type = podTemplateType
		if len(pl.holderPath) == 0 {
			typ = podType
		}
		return []yamledit.Change{{Path: full, Old: pl.holder, New: newHolder, Type: typ}}
	}
	var out []yamledit.Change
	if !reflect.DeepEqual(merged, pl.spec) {
		out = append(out, yamledit.Change{Path: append(slices.Clip(full), pl.path[len(pl.path)-1]), Old: pl.spec, New: merged, Type: podSpecType})
	}
	if !reflect.DeepEqual(newMeta, pl.tmpl) {
		out = append(out, yamledit.Change{Path: append(slices.Clip(full), "metadata"), Old: pl.tmpl, New: newMeta, Type: objectMetaType})
	}
	return out
}

var (
	podSpecType     = reflect.TypeOf(corev1.PodSpec{})
	podTemplateType = reflect.TypeOf(corev1.PodTemplateSpec{})
	objectMetaType  = reflect.TypeOf(metav1.ObjectMeta{})
	podType         = reflect.TypeOf(corev1.Pod{})
)

func (t *transformer) list(items []any, r ref, prefix *field.Path, at []any, changes *[]yamledit.Change) []string {
	var errs []string
	for i, item := range items {
		p := childPath(prefix, "items").Index(i)
		m, ok := item.(map[string]any)
		if !ok {
			errs = append(errs, r.report(fmt.Sprintf("%s: not a Kubernetes object: the item is %s, not a mapping", p, yamledit.DescribeValue(item))))
			continue
		}
		itemAt := append(slices.Clip(at), "items", i)
		errs = append(errs, t.object(m, ref{doc: r.doc, obj: m, parent: &r, item: i, path: p.String()}, p, itemAt, changes)...)
	}
	return errs
}

func childPath(p *field.Path, name string) *field.Path {
	if p == nil {
		return field.NewPath(name)
	}
	return p.Child(name)
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

// podSpec runs the command on the typed pod spec and replays the change
// onto the original map (see yamledit.Merge); meta is the metadata beside the
// spec, where the injection record lives, and comes back changed or as it
// was (nil when there is none). spec is the zero PodSpec inside a fresh
// typed object; path and objPath are the places in the document of the
// spec and of the object holding it and the metadata.
func (t *transformer) podSpec(orig, meta map[string]any, spec *corev1.PodSpec, p *cloudsqlproxy.Proxy, opts []cloudsqlproxy.Option, path, objPath *field.Path) (map[string]any, map[string]any, bool, []string) {
	metaPath := childPath(objPath, "metadata")
	conv := runtime.DefaultUnstructuredConverter
	if err := conv.FromUnstructured(orig, spec); err != nil {
		return nil, nil, false, decodeErrors(orig, reflect.TypeOf(spec).Elem(), path, err)
	}
	var om metav1.ObjectMeta
	if err := conv.FromUnstructured(map[string]any{"annotations": meta["annotations"]}, &om); err != nil {
		return nil, nil, false, []string{fmt.Sprintf("%s: %v", metaPath.Child("annotations"), err)}
	}
	before := maps.Clone(om.Annotations)
	r0, err := conv.ToUnstructured(spec)
	if err != nil {
		return nil, nil, false, []string{fmt.Sprintf("%s: %v", path, err)}
	}
	name := ""
	if t.action == inject {
		var errs []string
		var standalone bool
		p, standalone, errs = t.adoptFor(spec, &om, p, opts, path, objPath)
		if len(errs) > 0 || standalone {
			return nil, nil, false, errs
		}
		if p == nil {
			// No --instance, and nothing of its own to adopt.
			t.noProxy++
			return nil, nil, false, nil
		}
		name = p.Name()
		err = p.AttachTo(&om, spec)
		if err == nil {
			err = podLevelResources(orig, spec, p.Name())
		}
	} else {
		// DetachFrom reports a record it cannot read.
		name, _ = cloudsqlproxy.RecordedProxy(&om)
		var found bool
		found, err = cloudsqlproxy.DetachFrom(&om, spec)
		if err == nil && !found && p != nil {
			name = p.Name()
			err = p.Detach(spec)
		}
	}
	if err != nil {
		return nil, nil, false, t.problems(err, path, objPath)
	}
	r1, err := conv.ToUnstructured(spec)
	if err != nil {
		return nil, nil, false, []string{fmt.Sprintf("%s: %v", path, err)}
	}
	specChanged, metaChanged := !reflect.DeepEqual(r0, r1), !maps.Equal(before, om.Annotations)
	if !specChanged && !metaChanged {
		return nil, nil, false, nil
	}
	merged := orig
	if specChanged {
		merged = yamledit.Merge(orig, r0, r1, name).(map[string]any)
		// The merge must mean exactly what the library produced; a
		// difference would be a bug here, and is reported rather than
		// written.
		var check corev1.PodSpec
		if err := conv.FromUnstructured(merged, &check); err != nil || !equality.Semantic.DeepEqual(&check, spec) {
			return nil, nil, false, []string{fmt.Sprintf("%s: internal error: the merged pod spec differs from the library's (please report this with the input)", path)}
		}
	}
	return merged, withAnnotations(meta, om.Annotations), true, nil
}

// withAnnotations is meta with its annotations replaced; an empty set
// drops the key, and then an empty meta is nil.
func withAnnotations(meta map[string]any, annotations map[string]string) map[string]any {
	out := maps.Clone(meta)
	if out == nil {
		out = map[string]any{}
	}
	if len(annotations) == 0 {
		delete(out, "annotations")
	} else {
		a := make(map[string]any, len(annotations))
		for k, v := range annotations {
			a[k] = v
		}
		out["annotations"] = a
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// adoptFor gives the proxy to attach: for a pod that runs a Cloud SQL proxy
// of its own (hand-written, v1, any name), the one that keeps its settings
// with the flags laid over them; otherwise p. A pod injected before is
// looked at as it was before that injection, so that re-injecting an
// adopted proxy with other flags adopts the original again. With
// --adopt=false the pod's own proxy is left to Attach to refuse. Without
// --instance (p nil) a pod with no proxy of its own gives nil: it is left
// alone; so is a pod whose only container is a proxy (standalone, noted).
// The policy is the library's FromPod; this only lays the flags over it and
// words its problems.
func (t *transformer) adoptFor(spec *corev1.PodSpec, meta *metav1.ObjectMeta, p *cloudsqlproxy.Proxy, opts []cloudsqlproxy.Option, path, objPath *field.Path) (_ *cloudsqlproxy.Proxy, standalone bool, _ []string) {
	if !t.adopt {
		return p, false, nil
	}
	all := slices.Clip(opts)
	for _, in := range t.instances {
		all = append(all, cloudsqlproxy.WithInstance(in))
	}
	adopted, err := cloudsqlproxy.FromPod(meta, spec, all...)
	var ae *cloudsqlproxy.AdoptError
	switch {
	case err == nil:
		t.adoption = adopted.Adoption()
		return adopted, false, nil
	case errors.Is(err, cloudsqlproxy.ErrNoProxy):
		return p, false, nil
	case errors.Is(err, cloudsqlproxy.ErrStandaloneProxy):
		t.notes = append(t.notes, fmt.Sprintf("note: %s: left alone: its only container is a Cloud SQL proxy that serves other pods (upstream's k8s-service pattern), not a sidecar", t.cur.at(path.String())))
		return nil, true, nil
	case errors.As(err, &ae):
		var out []string
		for _, e := range t.flagNames.config(ae.Err) {
			out = append(out, fmt.Sprintf("%s: adopting this proxy: %s", under(path, ae.Container.String()), e))
		}
		return nil, false, out
	case errors.Is(err, cloudsqlproxy.ErrInvalidConfig):
		out := t.problems(err, path, objPath)
		for i := range out {
			out[i] += " (to replace this proxy without its settings, use --adopt=false and remove it first)"
		}
		return nil, false, out
	}
	return nil, false, t.problems(err, path, objPath)
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
	var errs []error
	for _, o := range podres.Check(&pod, spec.InitContainers, spec.Containers, proxy) {
		pr := &cloudsqlproxy.Problem{Field: o.Path, Type: field.ErrorTypeInvalid, BadValue: o.Budget,
			Reason: cloudsqlproxy.ReasonNoRoom, Detail: o.Detail}
		if o.Requests {
			pr.Other = field.NewPath("WithResources")
		}
		errs = append(errs, pr)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", cloudsqlproxy.ErrConflict, utilerrors.NewAggregate(errs))
	}
	return nil
}

// problems formats an error of the library about the pod spec at path; a
// record's problems are about the object at objPath that holds its
// metadata.
func (t *transformer) problems(err error, path, objPath *field.Path) []string {
	if errors.Is(err, cloudsqlproxy.ErrBadRecord) {
		return t.flagNames.pod(err, objPath)
	}
	return t.flagNames.pod(err, path)
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
	case t.Kind() == reflect.Struct && isMap(v) && !yamledit.CustomDecoding(t):
		m := v.(map[string]any)
		for _, k := range sortedKeys(m) {
			ft, ok := yamledit.JSONField(t, k)
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
		detail := "cannot be read as " + describeType(t)
		if yamledit.LooksLikeTemplate(v) {
			detail += "; it looks like an unrendered Helm template: run helm template first, and inject into its output"
		}
		errs = append(errs, field.Invalid(p, v, detail))
	}
	return errs
}

func isMap(v any) bool  { _, ok := v.(map[string]any); return ok }
func isList(v any) bool { _, ok := v.([]any); return ok }

// decodes reports whether v converts to a value of type t.
func decodes(v any, t reflect.Type) bool {
	wrapper := reflect.StructOf([]reflect.StructField{{Name: "V", Type: t, Tag: `json:"v"`}})
	return runtime.DefaultUnstructuredConverter.FromUnstructured(map[string]any{"v": v}, reflect.New(wrapper).Interface()) == nil
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
