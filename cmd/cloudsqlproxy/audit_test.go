package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// TestCompactJSONStaysCompact: a JSON document written on one line, as
// kubectl get -o json | jq -c gives it, comes out on one line, with the
// members the proxy adds in the same compact style.
func TestCompactJSONStaysCompact(t *testing.T) {
	for _, in := range []string{
		`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web"},"spec":{"containers":[{"name":"web","image":"example/web:1"}]}}` + "\n",
		`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":"example/web:1","env":[{"name":"A","value":"1"}]}]}}}}`,
	} {
		got := runCLI(in, "inject", "--instance", inst, "--port-env", "DB_PORT", "-f", "-")
		if got.code != 0 {
			t.Fatalf("exit %d\n%s", got.code, got.stderr)
		}
		body := strings.TrimSuffix(got.stdout, "\n")
		if strings.Contains(body, "\n") || strings.Contains(body, ": ") || strings.Contains(body, ", ") {
			t.Errorf("the compact document was not kept compact:\n%s", got.stdout)
		}
		if !strings.Contains(body, `"initContainers":[{"name":"cloudsql-proxy"`) || !strings.Contains(body, `{"name":"DB_PORT","value":"5432"}`) {
			t.Errorf("the proxy is not in the output:\n%s", got.stdout)
		}
		if removed := runCLI(got.stdout, "remove", "-f", "-"); removed.stdout != in {
			t.Errorf("remove (-input +got):\n%s", cmp.Diff(in, removed.stdout))
		}
	}
}

// TestAdoptWithNewInstance: --instance given to inject replaces the
// instances of the hand-written proxy it adopts; the rest of its settings
// stay.
func TestAdoptWithNewInstance(t *testing.T) {
	file := filepath.Join("..", "..", "testdata", "adopt", "v2-sa-key.yaml")
	const newInst = "my-project:europe-west1:billing-replica"
	got := runCLI("", "inject", "--instance", newInst, "-f", file)
	if got.code != 0 {
		t.Fatalf("exit %d\n%s", got.code, got.stderr)
	}
	docs := decodeAll(t, splitOutput(t, got.stdout))
	var d struct {
		Spec struct {
			Template corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(docs[0], &d); err != nil {
		t.Fatal(err)
	}
	var proxy *corev1.Container
	for i, c := range d.Spec.Template.Spec.InitContainers {
		if c.Name == "cloud-sql-proxy" {
			proxy = &d.Spec.Template.Spec.InitContainers[i]
		}
	}
	if proxy == nil {
		t.Fatalf("no proxy in the output:\n%s", got.stdout)
	}
	var instances []string
	for _, a := range proxy.Args {
		if !strings.HasPrefix(a, "-") {
			instances = append(instances, a)
		}
	}
	if diff := cmp.Diff([]string{newInst + "?port=5432"}, instances); diff != "" {
		t.Errorf("instances of the adopted proxy (-want +got):\n%s", diff)
	}
	for _, kept := range []string{"--auto-iam-authn", "--credentials-file="} {
		if !strings.Contains(strings.Join(proxy.Args, " "), kept) {
			t.Errorf("the adopted proxy lost %s: %q", kept, proxy.Args)
		}
	}
}
