package e2e

import (
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// CheckPodSpec reports what neither the API server's validation nor Pod Security notices,
// but what breaks a pod at run time:
//   - a probe or lifecycle handler that names a port (by name or number) the container does
//     not declare: the kubelet fails a named lookup only when it probes, and a number that
//     is not declared is invisible to Services and NetworkPolicies that rely on names;
//   - a port name declared twice in the pod: Services and probes that select by name pick
//     one of them silently;
//   - a port number (with protocol) declared twice in the pod: two containers of one pod
//     share a network namespace, so the second bind fails at run time.
//
// It returns nil or one error listing every problem.
func CheckPodSpec(spec *corev1.PodSpec) error {
	if spec == nil {
		return errors.New("nil PodSpec")
	}
	var errs []error
	names := map[string]string{}
	numbers := map[string]string{}
	visit := func(kind string, cs []corev1.Container) {
		for i := range cs {
			c := &cs[i]
			where := fmt.Sprintf("%s[%d] (%q)", kind, i, c.Name)
			for j, p := range c.Ports {
				field := fmt.Sprintf("%s.ports[%d]", where, j)
				if p.Name != "" {
					if other, ok := names[p.Name]; ok {
						errs = append(errs, fmt.Errorf("%s: port name %q already declared by %s", field, p.Name, other))
					} else {
						names[p.Name] = field
					}
				}
				proto := p.Protocol
				if proto == "" {
					proto = corev1.ProtocolTCP
				}
				key := fmt.Sprintf("%d/%s", p.ContainerPort, proto)
				if other, ok := numbers[key]; ok {
					errs = append(errs, fmt.Errorf("%s: port %s already declared by %s", field, key, other))
				} else {
					numbers[key] = field
				}
			}
			for _, h := range handlersOf(c) {
				if _, err := ContainerPort(c, h.port); err != nil {
					errs = append(errs, fmt.Errorf("%s.%s: %w", where, h.field, err))
				}
			}
		}
	}
	visit("initContainers", spec.InitContainers)
	visit("containers", spec.Containers)
	return errors.Join(errs...)
}

type portRef struct {
	field string
	port  intstr.IntOrString
}

// handlersOf lists every port a probe or lifecycle hook of c talks to.
func handlersOf(c *corev1.Container) []portRef {
	var refs []portRef
	addProbe := func(name string, p *corev1.Probe) {
		if p == nil {
			return
		}
		switch {
		case p.HTTPGet != nil:
			refs = append(refs, portRef{name + ".httpGet.port", p.HTTPGet.Port})
		case p.TCPSocket != nil:
			refs = append(refs, portRef{name + ".tcpSocket.port", p.TCPSocket.Port})
		case p.GRPC != nil:
			refs = append(refs, portRef{name + ".grpc.port", intstr.FromInt32(p.GRPC.Port)})
		}
	}
	addProbe("startupProbe", c.StartupProbe)
	addProbe("livenessProbe", c.LivenessProbe)
	addProbe("readinessProbe", c.ReadinessProbe)
	if l := c.Lifecycle; l != nil {
		for _, hook := range []struct {
			name string
			h    *corev1.LifecycleHandler
		}{{"lifecycle.postStart", l.PostStart}, {"lifecycle.preStop", l.PreStop}} {
			name, h := hook.name, hook.h
			switch {
			case h == nil:
			case h.HTTPGet != nil:
				refs = append(refs, portRef{name + ".httpGet.port", h.HTTPGet.Port})
			case h.TCPSocket != nil:
				refs = append(refs, portRef{name + ".tcpSocket.port", h.TCPSocket.Port})
			}
		}
	}
	return refs
}

// ContainerPort resolves a probe's port reference through c's declared ports the way the
// kubelet does, so that tests probe exactly what the container declares.
func ContainerPort(c *corev1.Container, ref intstr.IntOrString) (int32, error) {
	for _, p := range c.Ports {
		if ref.Type == intstr.String && p.Name == ref.StrVal ||
			ref.Type == intstr.Int && p.ContainerPort == ref.IntVal {
			return p.ContainerPort, nil
		}
	}
	return 0, fmt.Errorf("port %s is not declared in the container's ports", ref.String())
}
