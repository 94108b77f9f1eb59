package main

import (
	"bytes"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/podspec/cloudsqlproxy"
	"github.com/podspec/cloudsqlproxy/cmd/cloudsqlproxy/internal/yamledit"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// TestWorkloadKinds holds the command's table of kinds and pod spec paths
// to the library's PodSpecOf, over every type of the three API groups: a
// kind the library learns must not be silently passed through, and a path
// must lead to the spec PodSpecOf returns.
func TestWorkloadKinds(t *testing.T) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	found := map[string]bool{}
	for gvk := range scheme.AllKnownTypes() {
		switch gvk.GroupVersion() {
		case schema.GroupVersion{Version: "v1"}, schema.GroupVersion{Group: "apps", Version: "v1"}, schema.GroupVersion{Group: "batch", Version: "v1"}:
		default:
			continue
		}
		obj, err := scheme.New(gvk)
		if err != nil {
			t.Fatal(err)
		}
		if rc, ok := obj.(*corev1.ReplicationController); ok {
			rc.Spec.Template = &corev1.PodTemplateSpec{}
		}
		spec, err := cloudsqlproxy.PodSpecOf(obj)
		wk, inTable := workloadKinds[gvk.Kind]
		if (err == nil) != inTable {
			t.Errorf("%s: PodSpecOf error %v, but in the command's table: %v", gvk, err, inTable)
			continue
		}
		if err != nil {
			continue
		}
		found[gvk.Kind] = true
		if wk.apiVersion != gvk.GroupVersion().String() {
			t.Errorf("%s: table says apiVersion %s", gvk, wk.apiVersion)
		}
		spec.ServiceAccountName = "marker"
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			t.Fatal(err)
		}
		m, err := nestedMap(u, wk.path, nil)
		if err != nil {
			t.Errorf("%s: path %v: %v", gvk, wk.path, err)
			continue
		}
		if m["serviceAccountName"] != "marker" {
			t.Errorf("%s: path %v does not lead to the spec PodSpecOf returns", gvk, wk.path)
		}
	}
	for k := range workloadKinds {
		if !found[k] {
			t.Errorf("table kind %s has no type that PodSpecOf accepts", k)
		}
	}
}

// successfulInjects are the golden cases whose input is a plain manifest.
func successfulInjects() []int {
	var out []int
	for i, tc := range goldenCases {
		if tc.code == 0 && tc.args[0] == "inject" {
			out = append(out, i)
		}
	}
	return out
}

// inputOf reads and concatenates the -f files of a golden case.
func inputOf(t *testing.T, args []string) []*yamledit.Document {
	t.Helper()
	var docs []*yamledit.Document
	for i := range args {
		if args[i] == "-f" {
			data, err := os.ReadFile(args[i+1])
			if err != nil {
				t.Fatal(err)
			}
			d, errs := yamledit.Split(args[i+1], data)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			docs = append(docs, contentDocs(d)...)
		}
	}
	return docs
}

func decodeAll(t *testing.T, docs []*yamledit.Document) []map[string]any {
	t.Helper()
	out := make([]map[string]any, len(docs))
	for i, d := range docs {
		m, err := d.Decode()
		if err != nil {
			t.Fatalf("%s document %d: %v", d.Source(), d.Index(), err)
		}
		out[i] = m
	}
	return out
}

func splitOutput(t *testing.T, out string) []*yamledit.Document {
	t.Helper()
	docs, errs := yamledit.Split("output", []byte(out))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return contentDocs(docs)
}

// contentDocs leaves out the documents of only white space, which splitting
// keeps so that the stream can be written back.
func contentDocs(docs []*yamledit.Document) []*yamledit.Document {
	var out []*yamledit.Document
	for _, d := range docs {
		if d.Index() > 0 {
			out = append(out, d)
		}
	}
	return out
}

// TestRoundTrip: remove, given the flags inject was given, restores every
// document's content; documents inject did not change keep their bytes.
func TestRoundTrip(t *testing.T) {
	for _, i := range successfulInjects() {
		tc := goldenCases[i]
		t.Run(tc.name, func(t *testing.T) {
			in := inputOf(t, tc.args)
			injected := runCLI("", tc.args...)
			removeArgs := append([]string{"remove"}, replaceInputs(tc.args)[1:]...)
			removed := runCLI(injected.stdout, removeArgs...)
			if removed.code != 0 {
				t.Fatalf("remove: exit %d\n%s", removed.code, removed.stderr)
			}
			outDocs := splitOutput(t, removed.stdout)
			if diff := cmp.Diff(decodeAll(t, in), decodeAll(t, outDocs)); diff != "" {
				t.Errorf("remove(inject(x)) != x (-x +got):\n%s", diff)
			}
			injDocs := splitOutput(t, injected.stdout)
			want, got := decodeAll(t, in), decodeAll(t, injDocs)
			for j := range in {
				if reflect.DeepEqual(want[j], got[j]) && !bytes.Equal(bytes.TrimRight(in[j].Raw(), "\n"), bytes.TrimRight(injDocs[j].Raw(), "\n")) {
					t.Errorf("document %d is unchanged in content but not in text:\n%s\n---- became\n%s", j+1, in[j].Raw(), injDocs[j].Raw())
				}
			}
		})
	}
}

// TestNothingElseChanges compares each injected document with its input:
// the only differences allowed are the proxy container, its volumes, and
// the environment variables and mounts it sets. No field of the input may
// go or change, and no empty value may appear (creationTimestamp: null,
// resources: {}, status: {}).
func TestNothingElseChanges(t *testing.T) {
	for _, i := range successfulInjects() {
		tc := goldenCases[i]
		t.Run(tc.name, func(t *testing.T) {
			proxy := "cloudsql-proxy"
			for j, a := range tc.args {
				if a == "--container-name" {
					proxy = tc.args[j+1]
				}
			}
			in := decodeAll(t, inputOf(t, tc.args))
			out := decodeAll(t, splitOutput(t, runCLI("", tc.args...).stdout))
			if len(in) != len(out) {
				t.Fatalf("%d documents in, %d out", len(in), len(out))
			}
			for j := range in {
				var d differ
				d.proxy = proxy
				d.walk(fmt.Sprintf("document %d", j+1), in[j], out[j], "")
				for _, p := range d.bad {
					t.Error(p)
				}
			}
		})
	}
}

// differ walks an input and an output value and records every difference
// that is not the proxy's.
type differ struct {
	proxy string
	bad   []string
}

var proxyEnv = map[string]bool{
	"DB_HOST": true, "DB_PORT": true, "DB_SOCKET": true, "REPLICA_HOST": true, "REPLICA_PORT": true,
	cloudsqlproxy.QuitURLsEnv: true,
}

// isRecord reports whether a key the output adds is the injection record:
// the annotation itself, or the annotations or metadata holding only it.
func isRecord(key string, v any) bool {
	m, _ := v.(map[string]any)
	switch key {
	case cloudsqlproxy.StatusAnnotation:
		return true
	case "annotations":
		return len(m) == 1 && m[cloudsqlproxy.StatusAnnotation] != nil
	case "metadata":
		return len(m) == 1 && isRecord("annotations", m["annotations"])
	}
	return false
}

// proxyLists are the lists inject adds items to and remove empties again,
// with the field that names their items; the tests state them apart from
// the engine, whose pairing they check.
var proxyLists = map[string]string{
	"containers": "name", "initContainers": "name", "ephemeralContainers": "name",
	"volumes": "name", "env": "name", "volumeMounts": "mountPath",
}

// added reports whether an item the output has and the input lacks is the
// proxy's.
func (d *differ) added(key string, item any) bool {
	m, _ := item.(map[string]any)
	switch key {
	case "containers", "initContainers":
		return m["name"] == d.proxy
	case "env":
		name, _ := m["name"].(string)
		return proxyEnv[name]
	case "volumes", "volumeMounts":
		name, _ := m["name"].(string)
		return strings.HasPrefix(name, d.proxy+"-")
	}
	return false
}

func (d *differ) walk(path string, a, b any, key string) {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			d.bad = append(d.bad, fmt.Sprintf("%s: %v became %v", path, a, b))
			return
		}
		for k, v := range av {
			if w, ok := bv[k]; ok {
				d.walk(path+"."+k, v, w, k)
			} else {
				d.bad = append(d.bad, fmt.Sprintf("%s.%s: removed", path, k))
			}
		}
		for k, w := range bv {
			if _, ok := av[k]; ok {
				continue
			}
			if _, keyed := proxyLists[k]; keyed {
				d.walk(path+"."+k, []any{}, w, k)
				continue
			}
			if isRecord(k, w) {
				continue
			}
			d.bad = append(d.bad, fmt.Sprintf("%s.%s: added %v", path, k, w))
		}
	case []any:
		bv, ok := b.([]any)
		if !ok {
			d.bad = append(d.bad, fmt.Sprintf("%s: %v became %v", path, a, b))
			return
		}
		id, keyed := proxyLists[key]
		if !keyed {
			if len(av) != len(bv) {
				d.bad = append(d.bad, fmt.Sprintf("%s: %d items became %d", path, len(av), len(bv)))
				return
			}
			for i := range av {
				d.walk(fmt.Sprintf("%s[%d]", path, i), av[i], bv[i], "")
			}
			return
		}
		last := -1
		matched := make([]bool, len(bv))
		for i, item := range av {
			j := -1
			for k := range bv {
				if !matched[k] && itemID(bv[k], id) == itemID(item, id) {
					j = k
					break
				}
			}
			if j < 0 {
				d.bad = append(d.bad, fmt.Sprintf("%s[%d]: removed", path, i))
				continue
			}
			if j < last {
				d.bad = append(d.bad, fmt.Sprintf("%s[%d]: moved before an earlier item", path, i))
			}
			last, matched[j] = j, true
			d.walk(fmt.Sprintf("%s[%v]", path, itemID(item, id)), item, bv[j], "")
		}
		for k, item := range bv {
			if !matched[k] && !d.added(key, item) {
				d.bad = append(d.bad, fmt.Sprintf("%s: added %v", path, item))
			}
		}
	default:
		if !reflect.DeepEqual(a, b) {
			d.bad = append(d.bad, fmt.Sprintf("%s: %v became %v", path, a, b))
		}
	}
}

// TestNewerFieldsSurvive names the fields of newer Kubernetes releases that
// the newer-fields golden case must carry through, so that a regenerated
// golden file cannot quietly lose them.
func TestNewerFieldsSurvive(t *testing.T) {
	var args []string
	for _, tc := range goldenCases {
		if tc.name == "newer-fields" {
			args = tc.args
		}
	}
	out := runCLI("", args...)
	if out.code != 0 {
		t.Fatalf("exit %d\n%s", out.code, out.stderr)
	}
	docs := decodeAll(t, splitOutput(t, out.stdout))
	spec := docs[0]["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
	app := findNamed(spec["containers"], "app")
	for _, c := range []struct {
		what string
		got  any
		want any
	}{
		{"pod resources", spec["resources"], map[string]any{"limits": map[string]any{"cpu": "2", "memory": "2Gi"}}},
		{"appArmorProfile", spec["securityContext"].(map[string]any)["appArmorProfile"], map[string]any{"type": "RuntimeDefault"}},
		{"supplementalGroupsPolicy", spec["securityContext"].(map[string]any)["supplementalGroupsPolicy"], "Strict"},
		{"lifecycle.stopSignal", app["lifecycle"], map[string]any{"stopSignal": "SIGUSR1"}},
		{"restartPolicyRules", app["restartPolicyRules"], []any{map[string]any{"action": "Restart", "exitCodes": map[string]any{"operator": "In", "values": []any{int64(42)}}}}},
		{"recursiveReadOnly", findMount(app["volumeMounts"], "/data")["recursiveReadOnly"], "Enabled"},
		{"bindMountOptions", findMount(app["volumeMounts"], "/data")["bindMountOptions"], []any{"noexec"}},
		{"env fileKeyRef", findNamed(app["env"], "TOKEN")["valueFrom"], map[string]any{"fileKeyRef": map[string]any{"volumeName": "data", "path": "env", "key": "TOKEN"}}},
		{"image volume", findNamed(spec["volumes"], "data")["image"], map[string]any{"reference": "quay.io/example/data:1", "pullPolicy": "IfNotPresent"}},
		{"cpu as written", findNamed(spec["initContainers"], "migrate")["resources"], map[string]any{"requests": map[string]any{"cpu": 0.5}}},
	} {
		if diff := cmp.Diff(c.want, c.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.what, diff)
		}
	}
}

func findNamed(list any, name string) map[string]any {
	for _, item := range list.([]any) {
		if m := item.(map[string]any); m["name"] == name {
			return m
		}
	}
	return nil
}

func findMount(list any, path string) map[string]any {
	for _, item := range list.([]any) {
		if m := item.(map[string]any); m["mountPath"] == path {
			return m
		}
	}
	return nil
}

// TestStream5000 checks the large stream the benchmark uses: every
// workload gets its proxy, the rest passes through, in order.
func TestStream5000(t *testing.T) {
	in := stream(5000)
	got := runCLI(string(in), "inject", "--instance", inst, "-f", "-")
	if got.code != 0 {
		t.Fatalf("exit %d\n%s", got.code, got.stderr)
	}
	docs := splitOutput(t, got.stdout)
	if len(docs) != 5000 {
		t.Fatalf("%d documents out, want 5000", len(docs))
	}
	counts := map[string]int{}
	for i, m := range decodeAll(t, docs) {
		kind := m["kind"].(string)
		name := m["metadata"].(map[string]any)["name"].(string)
		if want := fmt.Sprintf("%s-%d", strings.ToLower(kind), i); name != want {
			t.Fatalf("document %d is %s, want %s: order lost", i+1, name, want)
		}
		counts[kind]++
	}
	if n := strings.Count(got.stdout, "name: cloudsql-proxy\n"); n != counts["Deployment"]+counts["CronJob"]+counts["StatefulSet"] {
		t.Errorf("%d proxies in the output, want one per workload: %v", n, counts)
	}
	again := runCLI(got.stdout, "inject", "--instance", inst, "-f", "-")
	if again.stdout != got.stdout {
		t.Error("a second inject changed the 5,000-document stream")
	}
}

// stream is n documents cycling through the kinds of a typical release:
// three workloads to two others.
func stream(n int) []byte {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		switch i % 5 {
		case 0:
			fmt.Fprintf(&b, deploymentDoc, i)
		case 1:
			fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: service-%d\n  labels: {app: web}\nspec:\n  selector: {app: web}\n  ports:\n  - port: 80\n    targetPort: http\n", i)
		case 2:
			fmt.Fprintf(&b, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: configmap-%d\ndata:\n  LOG_LEVEL: info\n  FEATURES: \"a,b,c\"\n", i)
		case 3:
			fmt.Fprintf(&b, "---\napiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: cronjob-%d\nspec:\n  schedule: \"0 3 * * *\"\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: OnFailure\n          containers:\n          - name: task\n            image: example/task:1\n            args: [run]\n", i)
		case 4:
			fmt.Fprintf(&b, "---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: statefulset-%d\nspec:\n  serviceName: db\n  selector: {matchLabels: {app: db}}\n  template:\n    metadata: {labels: {app: db}}\n    spec:\n      containers:\n      - name: app\n        image: example/app:1\n        volumeMounts: [{name: data, mountPath: /data}]\n  volumeClaimTemplates:\n  - metadata: {name: data}\n    spec:\n      accessModes: [ReadWriteOnce]\n      resources: {requests: {storage: 1Gi}}\n", i)
		}
	}
	return b.Bytes()
}

const deploymentDoc = `---
# Source: chart/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: deployment-%d
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
      initContainers:
      - name: migrate
        image: example/web:1
        args: [migrate]
      containers:
      - name: web
        image: example/web:1
        ports: [{name: http, containerPort: 8080}]
        env:
        - {name: DATABASE_URL, value: "postgres://127.0.0.1:5432/app"}
        resources: {requests: {cpu: 250m, memory: 256Mi}}
        readinessProbe: {httpGet: {path: /healthz, port: http}}
`

// TestSortedKindsList keeps the warning's list of kinds in step with the
// table.
func TestSortedKindsList(t *testing.T) {
	w := (&transformer{}).warnings()
	for k := range workloadKinds {
		if !strings.Contains(w[0], k) {
			t.Errorf("the no-workload warning does not name %s: %s", k, w[0])
		}
	}
}

// itemID is the field of a list item that names it, or nil.
func itemID(item any, key string) any {
	m, _ := item.(map[string]any)
	return m[key]
}
