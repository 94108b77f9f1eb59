package podres

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// These run at every k8s.io/api version; the e2e module checks the same
// rule against the API server's own validation.

func ctr(name, request, limit string, sidecar bool) corev1.Container {
	c := corev1.Container{Name: name}
	if request != "" {
		c.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(request)}
	}
	if limit != "" {
		c.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(limit)}
	}
	if sidecar {
		always := corev1.ContainerRestartPolicyAlways
		c.RestartPolicy = &always
	}
	return c
}

func TestAggregate(t *testing.T) {
	tests := []struct {
		name          string
		init, regular []corev1.Container
		want          string
	}{
		{"nothing requested", nil, []corev1.Container{ctr("app", "", "", false)}, "0"},
		{"regular containers add up", nil, []corev1.Container{ctr("a", "100m", "", false), ctr("b", "250m", "", false)}, "350m"},
		{"a limit alone stands for the request", nil, []corev1.Container{ctr("a", "", "300m", false)}, "300m"},
		{"a plain init container counts only while it runs", []corev1.Container{ctr("migrate", "900m", "", false)},
			[]corev1.Container{ctr("app", "500m", "", false)}, "900m"},
		{"a sidecar adds to the app", []corev1.Container{ctr("proxy", "100m", "", true)},
			[]corev1.Container{ctr("app", "500m", "", false)}, "600m"},
		{"a sidecar runs beside later init containers", []corev1.Container{ctr("proxy", "100m", "", true), ctr("migrate", "900m", "", false)},
			[]corev1.Container{ctr("app", "500m", "", false)}, "1"},
		{"but not beside earlier ones", []corev1.Container{ctr("migrate", "900m", "", false), ctr("proxy", "100m", "", true)},
			[]corev1.Container{ctr("app", "500m", "", false)}, "900m"},
		{"sidecars accumulate", []corev1.Container{ctr("s1", "100m", "", true), ctr("s2", "200m", "", true), ctr("migrate", "800m", "", false)},
			nil, "1100m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Aggregate(corev1.ResourceCPU, tt.init, tt.regular)
			if want := resource.MustParse(tt.want); got.Cmp(want) != 0 {
				t.Errorf("Aggregate = %s, want %s", got.String(), want.String())
			}
		})
	}
}

func TestCheck(t *testing.T) {
	list := func(cpu string) corev1.ResourceList {
		return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}
	}
	tests := []struct {
		name          string
		pod           *corev1.ResourceRequirements
		init, regular []corev1.Container
		want          []string
	}{
		{"no pod-level resources", nil, nil, []corev1.Container{ctr("proxy", "9", "", false)}, nil},
		{"room", &corev1.ResourceRequirements{Requests: list("1")}, []corev1.Container{ctr("proxy", "100m", "", true)},
			[]corev1.Container{ctr("app", "900m", "", false)}, nil},
		{"over the request", &corev1.ResourceRequirements{Requests: list("1")}, []corev1.Container{ctr("proxy", "100m", "", true)},
			[]corev1.Container{ctr("app", "950m", "", false)}, []string{"resources.requests[cpu]"}},
		{"over the limit, which is the budget without a request", &corev1.ResourceRequirements{Limits: list("1")}, []corev1.Container{ctr("proxy", "100m", "", true)},
			[]corev1.Container{ctr("app", "950m", "", false)}, []string{"resources.limits[cpu]"}},
		{"a regular proxy's limit above the pod's", &corev1.ResourceRequirements{Requests: list("1"), Limits: list("1")}, nil,
			[]corev1.Container{ctr("proxy", "100m", "2", false)}, []string{"resources.limits[cpu]"}},
		{"a sidecar's limit is not compared", &corev1.ResourceRequirements{Requests: list("1"), Limits: list("1")},
			[]corev1.Container{ctr("proxy", "100m", "2", true)}, nil, nil},
		{"no proxy in the lists", &corev1.ResourceRequirements{Requests: list("1m")}, nil, []corev1.Container{ctr("app", "2", "", false)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, e := range Check(tt.pod, tt.init, tt.regular, "proxy") {
				got = append(got, e.Path.String())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
		})
	}
}
