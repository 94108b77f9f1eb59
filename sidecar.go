package cloudsqlproxy

import corev1 "k8s.io/api/core/v1"

// The accessors in this file hand out the parts Attach adds to a pod, for
// callers that assemble a pod themselves rather than through a
// [corev1.PodSpec] (an infrastructure-as-code SDK with its own pod types,
// for one). They return copies of the very fields Attach reads, so what
// they describe and what Attach does cannot drift apart.

// NativeSidecar reports whether the proxy runs as a native sidecar: then
// [Proxy.Attach] puts [Proxy.Container] first among the pod's init
// containers, and otherwise ([WithLegacySidecar], [ForJob]) first among
// its regular containers.
func (p *Proxy) NativeSidecar() bool { return p.mode == modeNative }

// AppEnv returns the environment variables that [Proxy.Attach] sets in the
// application containers, in order: [QuitURLsEnv] in Job mode, then the
// variables of [WithAppEnv]. Attach sets them in every regular container
// and, for a native sidecar, in every init container after the proxy; a
// container that already has a variable of that name keeps it (Attach
// refuses one with another value). The result is a fresh copy, nil when
// there are none.
func (p *Proxy) AppEnv() []corev1.EnvVar {
	if len(p.appEnv) == 0 {
		return nil
	}
	out := make([]corev1.EnvVar, len(p.appEnv))
	for i := range p.appEnv {
		p.appEnv[i].DeepCopyInto(&out[i])
	}
	return out
}

// AppVolumeMounts returns the mounts that [Proxy.Attach] adds to the same
// containers as [Proxy.AppEnv]: with [WithUnixSocket], the socket
// directory, whose volume [Proxy.Volumes] gives. The result is a fresh
// copy, nil when there are none.
func (p *Proxy) AppVolumeMounts() []corev1.VolumeMount {
	if len(p.appMounts) == 0 {
		return nil
	}
	out := make([]corev1.VolumeMount, len(p.appMounts))
	for i := range p.appMounts {
		p.appMounts[i].DeepCopyInto(&out[i])
	}
	return out
}
