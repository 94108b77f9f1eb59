package cloudsqlproxy

import (
	"path"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// takeOver gives the pod as it is once the proxy container at at, which this
// proxy replaces, has taken away what only it used and the proxy brings
// anew: the Secret volume of its key file and its socket directory (with
// the application's mounts of it), so that a sidecar read by FromContainer
// migrates without a second copy of either. spec itself is not written; the
// lists that change are fresh copies.
func (p *Proxy) takeOver(spec *corev1.PodSpec, at found) *corev1.PodSpec {
	old, _ := at.container(spec)
	var gone []string
	for _, v := range spec.Volumes {
		if p.takesOverVolume(spec, old, v) {
			gone = append(gone, v.Name)
		}
	}
	if len(gone) == 0 {
		return spec
	}
	work := *spec
	work.Volumes = slices.DeleteFunc(slices.Clone(spec.Volumes), func(v corev1.Volume) bool { return slices.Contains(gone, v.Name) })
	unmount := func(cs []corev1.Container) []corev1.Container {
		out := slices.Clone(cs)
		for i := range out {
			if out[i].Name == p.Name() {
				continue
			}
			out[i].VolumeMounts = nilIfEmpty(slices.DeleteFunc(slices.Clone(out[i].VolumeMounts), func(m corev1.VolumeMount) bool {
				return slices.Contains(gone, m.Name)
			}))
		}
		return out
	}
	work.InitContainers, work.Containers = unmount(spec.InitContainers), unmount(spec.Containers)
	return &work
}

// takesOverVolume reports whether v is a volume an adopted container brought
// that this proxy replaces: its key file's Secret or its socket directory,
// mounted by old and no other container but the ones the proxy wires.
func (p *Proxy) takesOverVolume(spec *corev1.PodSpec, old *corev1.Container, v corev1.Volume) bool {
	mounted := slices.ContainsFunc(old.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == v.Name })
	if !mounted || volumeIndex(p.volumes, v.Name) >= 0 {
		return false
	}
	switch {
	case v.Secret != nil:
		for _, pv := range p.volumes {
			if pv.Secret != nil && pv.Secret.SecretName == v.Secret.SecretName {
				return !p.mountedElsewhere(spec, old, v.Name, "")
			}
		}
	case p.adoptFacts != nil && v.Name == p.adoptFacts.unusedDir:
		return !p.mountedElsewhere(spec, old, v.Name, "")
	case isEmptyDir(v):
		for _, m := range p.appMounts {
			if slices.ContainsFunc(old.VolumeMounts, func(om corev1.VolumeMount) bool {
				return om.Name == v.Name && path.Clean(om.MountPath) == m.MountPath
			}) {
				return !p.mountedElsewhere(spec, old, v.Name, m.MountPath)
			}
		}
	}
	return false
}

// mountedElsewhere reports whether a container other than old mounts the
// volume name anywhere but at socketDir.
func (p *Proxy) mountedElsewhere(spec *corev1.PodSpec, old *corev1.Container, name, socketDir string) bool {
	for _, l := range containerLists(spec) {
		for i := range l.cs {
			c := &l.cs[i]
			if c == old {
				continue
			}
			for _, m := range c.VolumeMounts {
				if m.Name == name && (socketDir == "" || path.Clean(m.MountPath) != socketDir) {
					return true
				}
			}
		}
	}
	return false
}

// isEmptyDir reports whether v is an emptyDir, counting a volume with no
// source as one: the API server defaults it so ("emptyDir:" written as
// null in YAML).
func isEmptyDir(v corev1.Volume) bool {
	return v.EmptyDir != nil || v.VolumeSource == (corev1.VolumeSource{})
}
