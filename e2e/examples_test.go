package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
)

// TestExampleManifests puts the bundled examples through the API server's
// validation and Pod Security "restricted": the inputs, and the outputs of
// "cloudsqlproxy inject" that the CLI's tests hold to the commands of
// examples/README.md. The outputs are decoded strictly with this module's
// (newer) Kubernetes types, so a field the CLI wrote that Kubernetes does not
// know fails too.
func TestExampleManifests(t *testing.T) {
	inputs, err := filepath.Glob("../examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	injected := 0
	for _, path := range inputs {
		isOutput := strings.HasSuffix(path, ".injected.yaml")
		if isOutput {
			injected++
		}
		t.Run(filepath.Base(path), func(t *testing.T) {
			objs := decodeExampleFile(t, path)
			if len(objs) == 0 {
				t.Fatal("no object in the file")
			}
			for _, obj := range objs {
				spec, err := exampleSpec(obj)
				if err != nil {
					t.Fatal(err)
				}
				if err := ValidateObject(obj); err != nil {
					t.Errorf("%T: %v", obj, err)
				}
				if err := CheckPodSpec(spec); err != nil {
					t.Errorf("%T: %v", obj, err)
				}
				if isOutput {
					checkExampleProxy(t, spec)
				}
			}
		})
	}
	if injected < 3 {
		t.Errorf("found %d injected examples, want the Deployment, Job and CronJob ones", injected)
	}
}

// checkExampleProxy checks that the output has the proxy where its mode
// puts it: the first init container as a native sidecar, or the first
// container in Job mode.
func checkExampleProxy(t *testing.T, spec *corev1.PodSpec) {
	t.Helper()
	const name = "cloudsql-proxy"
	switch {
	case len(spec.InitContainers) > 0 && spec.InitContainers[0].Name == name:
		rp := spec.InitContainers[0].RestartPolicy
		if rp == nil || *rp != corev1.ContainerRestartPolicyAlways {
			t.Errorf("the proxy is the first init container but not a native sidecar (restartPolicy %v)", rp)
		}
	case len(spec.Containers) > 0 && spec.Containers[0].Name == name:
	default:
		t.Errorf("no %s container first among the init containers or the containers", name)
	}
}

// decodeExampleFile reads every document of a manifest file into the typed
// object of its kind, rejecting unknown and duplicate fields.
func decodeExampleFile(t *testing.T, path string) []runtime.Object {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := serializer.NewCodecFactory(legacyscheme.Scheme, serializer.EnableStrict).UniversalDeserializer()
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objs []runtime.Object
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj, _, err := dec.Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("document %d: %v", len(objs)+1, err)
		}
		objs = append(objs, obj)
	}
}

func exampleSpec(obj runtime.Object) (*corev1.PodSpec, error) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return &o.Spec.Template.Spec, nil
	case *batchv1.Job:
		return &o.Spec.Template.Spec, nil
	case *batchv1.CronJob:
		return &o.Spec.JobTemplate.Spec.Template.Spec, nil
	}
	return nil, errors.New("the examples hold Deployments, Jobs and CronJobs only")
}
