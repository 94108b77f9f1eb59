package main

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// withProxy names the workloads of a stream that have a container named
// cloudsql-proxy, as kind/name.
func withProxy(t *testing.T, stream string) []string {
	t.Helper()
	var out []string
	var visit func(obj map[string]any)
	visit = func(obj map[string]any) {
		if items, ok := obj["items"].([]any); ok {
			for _, it := range items {
				if m, ok := it.(map[string]any); ok {
					visit(m)
				}
			}
		}
		kind, _ := obj["kind"].(string)
		wk, ok := workloadKinds[kind]
		if !ok {
			return
		}
		spec, err := nestedMap(obj, wk.path, nil)
		if err != nil {
			return
		}
		for _, list := range []string{"initContainers", "containers"} {
			l, _ := spec[list].([]any)
			for _, c := range l {
				if m, _ := c.(map[string]any); m["name"] == "cloudsql-proxy" {
					name, _ := obj["metadata"].(map[string]any)["name"].(string)
					out = append(out, kind+"/"+name)
				}
			}
		}
	}
	for _, m := range decodeAll(t, splitOutput(t, stream)) {
		if m != nil {
			visit(m)
		}
	}
	sort.Strings(out)
	return out
}

const selectionStream = `apiVersion: apps/v1
kind: Deployment
metadata: {name: labelled-pods}
spec:
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: a, image: b}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: labelled-deployment, labels: {app: web}}
spec:
  template:
    spec:
      containers: [{name: a, image: b}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    metadata: {labels: {app: job-only}}
    spec:
      template:
        metadata: {labels: {app: web, tier: batch}}
        spec:
          restartPolicy: Never
          containers: [{name: a, image: b}]
---
apiVersion: v1
kind: Pod
metadata: {name: pod, labels: {app: web, tier: debug}}
spec:
  containers: [{name: a, image: b}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: other, labels: {app: other}}
spec:
  template:
    metadata: {labels: {app: other}}
    spec:
      containers: [{name: a, image: b}]
`

// TestSelector: a workload is selected when its own labels or its pod
// template's match; a CronJob's Job template labels are neither.
func TestSelector(t *testing.T) {
	for _, tc := range []struct {
		selector string
		want     []string
	}{
		{"app=web", []string{"CronJob/nightly", "Deployment/labelled-deployment", "Deployment/labelled-pods", "Pod/pod"}},
		{"tier=batch", []string{"CronJob/nightly"}},
		{"app=job-only", nil},
		{"app=web,tier!=debug", []string{"CronJob/nightly", "Deployment/labelled-deployment", "Deployment/labelled-pods"}},
		{"app notin (web)", []string{"Deployment/other"}},
		{"app!=web", []string{"Deployment/other"}},
		{"!tier", []string{"Deployment/labelled-deployment", "Deployment/labelled-pods", "Deployment/other"}},
		{"tier", []string{"CronJob/nightly", "Pod/pod"}},
	} {
		t.Run(tc.selector, func(t *testing.T) {
			got := runCLI(selectionStream, "inject", "--instance", inst, "--selector", tc.selector, "-f", "-")
			if got.code != 0 {
				t.Fatalf("exit %d\n%s", got.code, got.stderr)
			}
			if diff := cmp.Diff(tc.want, withProxy(t, got.stdout)); diff != "" {
				t.Errorf("workloads with the proxy (-want +got):\n%s", diff)
			}
		})
	}
}

const leftAloneStream = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: opted-out
  annotations: {cloudsqlproxy.podspec.dev/inject: "false"}
spec:
  template:
    spec:
      hostNetwork: true # would be refused, but the workload is left alone
      containers: [{name: a, image: b}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: template-opted-out}
spec:
  template:
    metadata:
      annotations: {cloudsqlproxy.podspec.dev/inject: "false"}
    spec:
      containers: [{name: a, image: b}]
---
apiVersion: extensions/v1beta1
kind: Deployment
metadata:
  name: old-but-opted-out
  annotations: {cloudsqlproxy.podspec.dev/inject: "false"}
spec: {template: {spec: {containers: [{name: a, image: b}]}}}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: opted-in
  annotations: {cloudsqlproxy.podspec.dev/inject: "true"}
spec:
  template:
    spec:
      containers: [{name: a, image: b}]
---
apiVersion: v1
kind: Pod
metadata:
  name: helm-test
  annotations: {helm.sh/hook: test}
spec:
  restartPolicy: Never
  containers: [{name: a, image: b}]
---
apiVersion: v1
kind: Pod
metadata:
  name: helm-test-legacy
  annotations: {helm.sh/hook: "pre-upgrade, test-success"}
spec:
  restartPolicy: Never
  containers: [{name: a, image: b}]
---
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations: {helm.sh/hook: pre-install,pre-upgrade}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: a, image: b}]
`

// TestLeftAlone: the opt-out annotation, on a workload or its pod
// template, and Helm test hooks leave a workload untouched, whatever it
// holds; a note counts them.
func TestLeftAlone(t *testing.T) {
	note := func(s string) string { return "cloudsqlproxy inject: note: left alone: " + s + "\n" }
	for _, tc := range []struct {
		name       string
		args       []string
		want       []string
		wantStderr string
	}{
		{
			name:       "default",
			want:       []string{"Deployment/opted-in", "Job/migrate"},
			wantStderr: note(`3 workloads annotated cloudsqlproxy.podspec.dev/inject: "false", 2 Helm test hooks (--include-helm-tests includes them)`),
		},
		{
			name:       "with Helm tests",
			args:       []string{"--include-helm-tests"},
			want:       []string{"Deployment/opted-in", "Job/migrate", "Pod/helm-test", "Pod/helm-test-legacy"},
			wantStderr: note(`3 workloads annotated cloudsqlproxy.podspec.dev/inject: "false"`),
		},
		{
			name:       "only selected workloads are counted",
			args:       []string{"--name", "helm-test", "--name", "opted-in"},
			want:       []string{"Deployment/opted-in"},
			wantStderr: note(`1 Helm test hook (--include-helm-tests includes them)`),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := runCLI(leftAloneStream, append(append([]string{"inject", "--instance", inst}, tc.args...), "-f", "-")...)
			if got.code != 0 {
				t.Fatalf("exit %d\n%s", got.code, got.stderr)
			}
			if diff := cmp.Diff(tc.want, withProxy(t, got.stdout)); diff != "" {
				t.Errorf("workloads with the proxy (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantStderr, got.stderr); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}

	// remove leaves them alone too: a hand-written proxy in an opted-out
	// workload stays.
	injected := runCLI(leftAloneStream, "inject", "--instance", inst, "--include-helm-tests", "-f", "-")
	marked := strings.Replace(injected.stdout, "name: opted-in\n  annotations: {cloudsqlproxy.podspec.dev/inject: \"true\"}",
		"name: opted-in\n  annotations: {cloudsqlproxy.podspec.dev/inject: \"false\"}", 1)
	removed := runCLI(marked, "remove", "--instance", inst, "-f", "-")
	if removed.code != 0 {
		t.Fatalf("remove: exit %d\n%s", removed.code, removed.stderr)
	}
	if diff := cmp.Diff([]string{"Deployment/opted-in", "Pod/helm-test", "Pod/helm-test-legacy"}, withProxy(t, removed.stdout)); diff != "" {
		t.Errorf("remove: workloads with the proxy (-want +got):\n%s", diff)
	}
}

// TestReports: what the command says about input it cannot use, at the
// line of the field concerned.
func TestReports(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.yaml")
	good := filepath.Join(dir, "good.yaml")
	onlyEmpty := filepath.Join(dir, "only-empty")
	for path, text := range map[string]string{
		empty: "", good: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
		filepath.Join(onlyEmpty, "a.yaml"): "---\n# Source: chart/templates/a.yaml\n", filepath.Join(onlyEmpty, "b.json"): "\n",
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const noObject = ": no Kubernetes object in the input: it is empty or holds only comments and --- lines (did the command that produced it, such as helm template, fail?)"
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string // after inject --instance
		code  int
		want  []string // stderr lines, without "cloudsqlproxy inject: "
	}{
		{name: "nothing on stdin", code: 1, want: []string{"<stdin>" + noObject}},
		{name: "white space", stdin: "\n  \n", code: 1, want: []string{"<stdin>" + noObject}},
		{name: "helm template of a chart that renders nothing", stdin: "---\n# Source: chart/templates/NOTES.txt\n---\n# Source: chart/templates/x.yaml\n", code: 1, want: []string{"<stdin>" + noObject}},
		{name: "a null document", stdin: "---\nnull\n", code: 1, want: []string{"<stdin>" + noObject}},
		{name: "an empty file among good ones", args: []string{"-f", good, "-f", empty}, code: 1, want: []string{empty + noObject}},
		{
			name: "a directory of empty files", args: []string{"-f", onlyEmpty}, code: 1,
			want: []string{onlyEmpty + ": no Kubernetes object in the directory's files: they are empty or hold only comments and --- lines"},
		},
		{
			name: "a KRM function's empty ResourceList is input", stdin: "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\n",
			want: []string{"warning: the input holds no workload (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, PodTemplate, Job, CronJob); the output is the input"},
		},
		{
			name:  "a chart's template",
			stdin: "# Source: web/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ include \"web.fullname\" . }}\n  labels:\n    {{- include \"web.labels\" . | nindent 4 }}\n",
			code:  1,
			want:  []string{`<stdin>:5: document 1: looks like an unrendered Helm template ({{ include "web.fullname" . }}): run helm template first, and inject into its output`},
		},
		{
			name:  "a template where a number goes",
			stdin: "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    image: b\n    ports:\n    - containerPort: \"{{ .Values.port }}\"\n",
			code:  1,
			want: []string{`<stdin>:9: document 1 (Pod p): spec.containers[0].ports[0].containerPort: Invalid value: "{{ .Values.port }}": cannot be read as an integer; ` +
				`it looks like an unrendered Helm template: run helm template first, and inject into its output`},
		},
		{
			name:  "templates in strings are strings",
			stdin: "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata: {name: r}\nspec:\n  groups:\n  - rules:\n    - annotations:\n        summary: |\n          {{ $labels.instance }} is down\n",
			want:  []string{"warning: the input holds no workload (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, PodTemplate, Job, CronJob); the output is the input"},
		},
		{
			name:  "JSON: the line of the field",
			stdin: "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Pod\",\n  \"metadata\": {\"name\": \"p\"},\n  \"spec\": {\n    \"hostNetwork\": true,\n    \"containers\": [{\"name\": \"a\", \"image\": \"b\"}]\n  }\n}\n",
			code:  1,
			want:  []string{"<stdin>:6: document 1 (Pod p): spec.hostNetwork: Invalid value: true: the proxy would bind its ports on the node's network, shared with every other host-network pod there"},
		},
		{
			name:  "an item of a List, below a comment",
			stdin: "# header\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: p}\n  spec:\n    containers:\n    - name: a\n      image: b\n      env:\n      - {name: DB_HOST, value: elsewhere}\n",
			args:  []string{"--host-env", "DB_HOST"},
			code:  1,
			want:  []string{`<stdin>:15: document 1 (List), items[1] (Pod p): items[1].spec.containers[0].env[0].value: Invalid value: "elsewhere": container "a" already sets DB_HOST; the proxy "cloudsql-proxy" would set it to "127.0.0.1"`},
		},
		{
			name:  "a bad opt-out value",
			stdin: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    cloudsqlproxy.podspec.dev/inject: \"no\"\nspec:\n  containers: [{name: a, image: b}]\n",
			code:  1,
			want:  []string{`<stdin>:6: document 1 (Pod p): metadata.annotations[cloudsqlproxy.podspec.dev/inject]: Unsupported value: "no": supported values: "\"false\"", "\"true\""`},
		},
		{
			name:  "an old apiVersion of a workload nobody selected passes",
			stdin: "apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: old, labels: {app: old}}\nspec: {template: {spec: {containers: [{name: a, image: b}]}}}\n",
			args:  []string{"--selector", "app=web"},
			want:  []string{"warning: no workload of the input matches --selector/--name; the output is the input"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"inject", "--instance", inst}, tc.args...)
			if !strings.Contains(strings.Join(tc.args, " "), "-f ") {
				args = append(args, "-f", "-")
			}
			got := runCLI(tc.stdin, args...)
			if got.code != tc.code {
				t.Errorf("exit %d, want %d", got.code, tc.code)
			}
			var lines []string
			for _, l := range strings.Split(strings.TrimSuffix(got.stderr, "\n"), "\n") {
				if l != "" && !strings.HasSuffix(l, "; nothing was written") {
					lines = append(lines, strings.TrimPrefix(l, "cloudsqlproxy inject: "))
				}
			}
			if diff := cmp.Diff(tc.want, lines); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}
}
