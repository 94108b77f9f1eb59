package main

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

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

func (n nameFilter) String() string {
	if n.hasNS {
		return n.namespace + "/" + n.name
	}
	return n.name
}

// passes tells whether the workload is to pass through untouched: not
// selected, or left alone; problems are those of its opt-out annotation.
func (t *transformer) passes(obj map[string]any, wk workload, r ref, prefix *field.Path) (bool, []string) {
	meta, _ := obj["metadata"].(map[string]any)
	tmpl := templateMeta(obj, wk.path)
	if !t.selected(meta, tmpl) {
		return true, nil
	}
	leave, problems := t.leftAlone(meta, tmpl, prefix, wk.path)
	for i := range problems {
		problems[i] = r.report(problems[i])
	}
	return leave, problems
}

// templateMeta is the metadata of the workload's pod template (for a Pod,
// its own), found next to the pod spec.
func templateMeta(obj map[string]any, specPath []string) map[string]any {
	cur := obj
	for _, k := range specPath[:len(specPath)-1] {
		next, ok := cur[k].(map[string]any)
		if !ok {
			return nil
		}
		cur = next
	}
	m, _ := cur["metadata"].(map[string]any)
	return m
}

// selected applies --selector and --name to a workload.
func (t *transformer) selected(meta, tmpl map[string]any) bool {
	if t.selector != nil && !matchesEither(t.selector, labelSet(meta), labelSet(tmpl)) {
		return false
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

// matchesEither matches a selector against the labels of a workload and of
// its pod template together: charts label the pods (app.kubernetes.io/name
// and the like) more reliably than the Deployment. A label on either
// counts: app=web holds if either carries it, and app!=web only if neither
// does, so that it leaves out a Deployment whose pods are app=web.
func matchesEither(sel labels.Selector, sets ...labels.Set) bool {
	reqs, selectable := sel.Requirements()
	if !selectable {
		return false
	}
	for _, r := range reqs {
		negative := false
		switch r.Operator() {
		case selection.NotEquals, selection.NotIn, selection.DoesNotExist:
			negative = true
		}
		holds := negative
		for _, set := range sets {
			if m := r.Matches(set); negative && !m {
				holds = false
			} else if !negative && m {
				holds = true
			}
		}
		if !holds {
			return false
		}
	}
	return true
}

func labelSet(meta map[string]any) labels.Set {
	set := labels.Set{}
	if l, ok := meta["labels"].(map[string]any); ok {
		for k, v := range l {
			set[k] = fmt.Sprint(v)
		}
	}
	return set
}

// injectAnnotation, set to "false" on a workload or its pod template, tells
// the command to leave the workload alone: a pod with a hand-written proxy,
// or one that must not reach the database.
const injectAnnotation = "cloudsqlproxy.podspec.dev/inject"

// helmHookAnnotation marks Helm hooks; the test hooks ("helm test") are
// pods that check a release, and get no proxy unless --include-helm-tests.
const helmHookAnnotation = "helm.sh/hook"

// leftAlone tells whether a selected workload is to pass through untouched,
// counting it; a value of the opt-out annotation other than "true" and
// "false" is a problem rather than a guess either way.
func (t *transformer) leftAlone(meta, tmpl map[string]any, prefix *field.Path, specPath []string) (bool, []string) {
	var problems []string
	optOut := false
	check := func(m map[string]any, p *field.Path) {
		ann, _ := m["annotations"].(map[string]any)
		v, ok := ann[injectAnnotation]
		if !ok {
			return
		}
		switch v {
		case "false":
			optOut = true
		case "true":
		default:
			problems = append(problems, field.NotSupported(p.Child("annotations").Key(injectAnnotation), v, []string{`"false"`, `"true"`}).Error())
		}
	}
	check(meta, childPath(prefix, "metadata"))
	if len(specPath) > 1 {
		p := prefix
		for _, k := range specPath[:len(specPath)-1] {
			p = childPath(p, k)
		}
		check(tmpl, p.Child("metadata"))
	}
	switch {
	case len(problems) > 0:
		return false, problems
	case optOut:
		t.optedOut++
		return true, nil
	case !t.includeHelmTests && isHelmTest(meta):
		t.helmTests++
		return true, nil
	}
	return false, nil
}

func isHelmTest(meta map[string]any) bool {
	ann, _ := meta["annotations"].(map[string]any)
	hooks, _ := ann[helmHookAnnotation].(string)
	for _, h := range strings.Split(hooks, ",") {
		switch strings.TrimSpace(h) {
		case "test", "test-success", "test-failure":
			return true
		}
	}
	return false
}
