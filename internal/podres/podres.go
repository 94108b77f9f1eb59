// Package podres checks a pod's pod-level resources (PodSpec.Resources,
// Kubernetes 1.32 and newer) against its containers the way the API server
// does. The library runs it in Attach; the command runs it too when its
// compiled Kubernetes types have no such field and a manifest has one.
package podres

import (
	"fmt"
	"reflect"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// podField locates PodSpec.Resources by reflection, so that the module
// still builds with the oldest k8s.io/api it supports (v0.28), which lacks
// it; nil there.
var podField = func() []int {
	f, ok := reflect.TypeOf(corev1.PodSpec{}).FieldByName("Resources")
	if !ok || f.Type != reflect.TypeOf(&corev1.ResourceRequirements{}) {
		return nil
	}
	return f.Index
}()

// Of returns spec's pod-level resources (nil when it sets none) and whether
// the compiled PodSpec has the field at all.
func Of(spec *corev1.PodSpec) (*corev1.ResourceRequirements, bool) {
	if podField == nil {
		return nil, false
	}
	r, _ := reflect.ValueOf(spec).Elem().FieldByIndex(podField).Interface().(*corev1.ResourceRequirements)
	return r, true
}

// Overrun is a budget of the pod that its containers overrun.
type Overrun struct {
	Path   *field.Path // of the pod's budget, from the pod spec
	Budget string      // the pod's budget
	Detail string      // what overruns it, naming no option
	// Requests: lowering the proxy's requests is the remedy the caller's
	// option for them can name.
	Requests bool
}

// Check finds, in a pod whose pod-level resources are pod and whose
// container lists are init and regular, a budget the container named proxy
// overruns. The API server requires the pod's request of cpu or memory (or
// its limit, when only that is set) to cover what the containers request
// together, and each regular container's limit to stay within the pod's.
// Paths are relative to the pod spec.
func Check(pod *corev1.ResourceRequirements, init, regular []corev1.Container, proxy string) []Overrun {
	if pod == nil || len(pod.Requests)+len(pod.Limits) == 0 {
		return nil
	}
	ctr, isRegular := find(proxy, init, regular)
	if ctr == nil {
		return nil
	}
	var errs []Overrun
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		budget, ok := pod.Requests[r]
		kind := "requests"
		if !ok {
			if budget, ok = pod.Limits[r]; !ok {
				continue
			}
			kind = "limits"
		}
		if total := Aggregate(r, init, regular); total.Cmp(budget) > 0 {
			mine := request(ctr, r)
			errs = append(errs, Overrun{field.NewPath("resources", kind).Key(string(r)), budget.String(),
				fmt.Sprintf("the pod's containers would request %s of %s together, %s of it by the proxy %q: raise the pod's %s or lower the proxy's requests",
					total.String(), r, mine.String(), proxy, kind), true})
		}
		if lim, ok := ctr.Resources.Limits[r]; ok && isRegular {
			if podLim, ok := pod.Limits[r]; ok && lim.Cmp(podLim) > 0 {
				errs = append(errs, Overrun{field.NewPath("resources", "limits").Key(string(r)), podLim.String(),
					fmt.Sprintf("the proxy %q would have a %s limit of %s, above the pod's", proxy, r, lim.String()), false})
			}
		}
	}
	return errs
}

func find(name string, init, regular []corev1.Container) (*corev1.Container, bool) {
	for i := range init {
		if init[i].Name == name {
			return &init[i], false
		}
	}
	for i := range regular {
		if regular[i].Name == name {
			return &regular[i], true
		}
	}
	return nil, false
}

// Aggregate is what the containers request of r together, as the scheduler
// and the API server count it: a native sidecar's request adds to the
// regular containers' and to every init container started after it; a
// plain init container needs its own request only while it runs.
func Aggregate(r corev1.ResourceName, init, regular []corev1.Container) resource.Quantity {
	var total, sidecars, peak resource.Quantity
	for i := range regular {
		total.Add(request(&regular[i], r))
	}
	for i := range init {
		q := request(&init[i], r)
		// Each init container, sidecar or not, runs beside the sidecars
		// started before it.
		running := sidecars.DeepCopy()
		running.Add(q)
		if init[i].RestartPolicy != nil && *init[i].RestartPolicy == corev1.ContainerRestartPolicyAlways {
			total.Add(q)
			sidecars.Add(q)
		}
		if running.Cmp(peak) > 0 {
			peak = running
		}
	}
	if peak.Cmp(total) > 0 {
		return peak
	}
	return total
}

// request is a container's request of r, which the API server defaults to
// its limit when only that is set.
func request(c *corev1.Container, r corev1.ResourceName) resource.Quantity {
	if q, ok := c.Resources.Requests[r]; ok {
		return q
	}
	return c.Resources.Limits[r]
}
