package cloudsqlproxy

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/podspec/cloudsqlproxy/internal/podres"
	"github.com/podspec/cloudsqlproxy/internal/proxycmd"
)

// list says which of the pod's container lists holds a container.
type list int

const (
	nowhere list = iota
	inInit
	inContainers
)

// found is where the pod already has a container with the proxy's name.
type found struct {
	list  list
	index int
}

// Attach adds the proxy to spec: the container (first among the init
// containers for a native sidecar, first among the containers otherwise),
// its volumes, and the environment variables and socket mounts of every
// container that can use it.
//
// Attach is idempotent: attaching the same proxy twice gives the same spec
// as attaching it once. A container of the proxy's name that the library
// built, or that this proxy was read from with [FromContainer], is replaced
// where it stands, or moved to the other list when the mode changed: this is
// how a pod migrates from a plain sidecar to a native one. The key-file
// Secret volume and socket emptyDir of a container read by FromContainer
// are taken over too. Any other Cloud SQL proxy of that name is refused, as
// replacing it would drop its settings.
//
// Attach is atomic: it checks everything before it changes anything, and on
// error spec is left exactly as it was. It refuses, in an error wrapping
// [ErrConflict] that lists every problem: a port of the proxy (listeners,
// health, admin) declared by another container; another kind of container
// with the proxy's name; a Cloud SQL proxy (v1 or v2, recognised by its
// command or image, also inside a shell command) under another name; a volume of the proxy's name with other content; an
// environment variable or mount path the application already uses
// differently; in a pod without the proxy, an environment variable, mount or
// volume equal to one the proxy adds (Detach could not tell the pod's own
// from the proxy's); a Job-mode proxy in a pod that restarts forever; a pod
// on the host network, where the proxy's ports would be the node's; a
// Windows pod; a block device at the socket directory; pod-level resources
// (spec.resources) that do not leave room for the proxy's requests.
func (p *Proxy) Attach(spec *corev1.PodSpec) error {
	if spec == nil {
		return ErrNilPodSpec
	}
	at, errs := p.locate(spec, true)
	work := spec
	if at.list != nowhere && len(errs) == 0 {
		work = p.takeOver(spec, at)
	}
	init, regular := p.place(work, at)
	errs = append(errs, p.checkPod(work, at)...)
	if len(regular) == 0 && len(work.Containers) > 0 && len(errs) == 0 {
		// The proxy was the pod's only container (upstream's k8s-service
		// pattern): as a native sidecar it would leave the pod without one,
		// which the API server rejects. A spec with no container yet is
		// one being built, which gets its containers after the proxy.
		errs = append(errs, &Problem{Field: field.NewPath("containers"), Type: field.ErrorTypeRequired, Reason: ReasonPodUnsupported,
			Detail: "the proxy is the pod's only container: a proxy serving other pods is no sidecar, leave it as it is"})
	}
	pod, _ := podres.Of(spec)
	errs = append(errs, overruns(podres.Check(pod, init, regular, p.Name()))...)
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrConflict, errs.aggregate())
	}
	if len(p.appEnv) > 0 || len(p.appMounts) > 0 {
		if p.mode == modeNative {
			init = p.wire(init, p.Name())
		}
		regular = p.wire(regular, p.Name())
	}
	spec.InitContainers, spec.Containers, spec.Volumes = init, regular, work.Volumes

	var missing []corev1.Volume
	for _, v := range p.volumes {
		if volumeIndex(spec.Volumes, v.Name) < 0 {
			missing = append(missing, *v.DeepCopy())
		}
	}
	if len(missing) > 0 {
		spec.Volumes = append(slices.Clip(spec.Volumes), missing...)
	}
	return nil
}

// place gives the pod's container lists with the proxy where Attach puts
// it. spec is not written: the lists it changes are fresh copies.
func (p *Proxy) place(spec *corev1.PodSpec, at found) (init, regular []corev1.Container) {
	want := inContainers
	if p.mode == modeNative {
		want = inInit
	}
	ctr := p.Container()
	init, regular = spec.InitContainers, spec.Containers
	switch {
	case at.list == want && want == inInit:
		init = slices.Clone(init)
		init[at.index] = ctr
	case at.list == want:
		regular = slices.Clone(regular)
		regular[at.index] = ctr
	default:
		if at.list == inInit {
			init = slices.Delete(slices.Clone(init), at.index, at.index+1)
		} else if at.list == inContainers {
			regular = slices.Delete(slices.Clone(regular), at.index, at.index+1)
		}
		if want == inInit {
			init = slices.Insert(init[:len(init):len(init)], 0, ctr)
		} else {
			regular = slices.Insert(regular[:len(regular):len(regular)], 0, ctr)
		}
	}
	return init, regular
}

// wire gives every container of cs except the proxy the environment
// variables and mounts it lacks, on fresh slices so that no array shared
// with another spec is written. In a native sidecar's init list only the
// containers after the proxy can reach it.
func (p *Proxy) wire(cs []corev1.Container, proxyName string) []corev1.Container {
	start := 0
	if i := containerIndex(cs, proxyName); i >= 0 && p.mode == modeNative {
		start = i + 1
	}
	var out []corev1.Container
	for i := start; i < len(cs); i++ {
		if cs[i].Name == proxyName {
			continue
		}
		env, mounts := cs[i].Env, cs[i].VolumeMounts
		for _, e := range p.appEnv {
			if envIndex(env, e.Name) < 0 {
				env = append(slices.Clip(env), e)
			}
		}
		for _, m := range p.appMounts {
			if mountIndex(mounts, m.MountPath) < 0 {
				mounts = append(slices.Clip(mounts), m)
			}
		}
		if len(env) == len(cs[i].Env) && len(mounts) == len(cs[i].VolumeMounts) {
			continue
		}
		if out == nil {
			out = slices.Clone(cs)
		}
		out[i].Env, out[i].VolumeMounts = env, mounts
	}
	if out == nil {
		return cs
	}
	return out
}

// locate finds the container with the proxy's name and checks that it is
// one the proxy may replace.
func (p *Proxy) locate(spec *corev1.PodSpec, forAttach bool) (found, problems) {
	var errs problems
	name := p.Name()
	at := found{}
	// Names are unique across both lists; a second container of the
	// proxy's name, in either list, leaves it unclear which one to replace.
	for _, l := range []struct {
		list list
		name string
		cs   []corev1.Container
	}{{inInit, "initContainers", spec.InitContainers}, {inContainers, "containers", spec.Containers}} {
		for i := range l.cs {
			if l.cs[i].Name != name {
				continue
			}
			if at.list != nowhere {
				np := field.NewPath(l.name).Index(i).Child("name")
				errs = append(errs, problemOf(np, field.Duplicate(np, name), ReasonNameInUse))
				continue
			}
			at = found{l.list, i}
		}
	}
	for i := range spec.EphemeralContainers {
		if spec.EphemeralContainers[i].Name == name {
			np := field.NewPath("ephemeralContainers").Index(i).Child("name")
			errs = append(errs, problemOf(np, field.Duplicate(np, name), ReasonNameInUse))
		}
	}
	if at.list != nowhere {
		c, p2 := at.container(spec)
		switch {
		case !p.isProxyImage(c.Image) && proxycmd.Detect(c) == proxycmd.None:
			errs = append(errs, invalid(p2.Child("image"), c.Image, ReasonNameInUse,
				fmt.Sprintf("container %q has the proxy's name but does not run a Cloud SQL Auth Proxy image; refusing to replace it: choose another name", name)).
				involving(field.NewPath("WithName")))
		case forAttach && !p.mayReplace(c):
			// Forbidden, not Invalid: the proxy's settings may be in its
			// command, args or env, and no one of them is the bad value.
			errs = append(errs, (&Problem{Field: p2, Type: field.ErrorTypeForbidden, Reason: ReasonNameInUse,
				Detail: fmt.Sprintf("container %q runs a Cloud SQL proxy that the library did not build and this proxy was not read from: replacing it would drop its settings; read the proxy from that container to keep them, or remove it first", name)}).
				involving(field.NewPath("FromContainer")))
		}
	}
	return at, errs
}

func (at found) container(spec *corev1.PodSpec) (*corev1.Container, *field.Path) {
	if at.list == inInit {
		return &spec.InitContainers[at.index], field.NewPath("initContainers").Index(at.index)
	}
	return &spec.Containers[at.index], field.NewPath("containers").Index(at.index)
}

// mayReplace reports whether Attach may replace the proxy container c
// without losing settings: c is the one this proxy was read from
// (FromContainer), or one the library built (its health port and the
// flags the library always sets), whose settings the caller chose anew.
func (p *Proxy) mayReplace(c *corev1.Container) bool {
	if p.adopted != nil && equality.Semantic.DeepEqual(p.adopted, c) {
		return true
	}
	declared := slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.Name == HealthPortName })
	argv := append(slices.Clip(c.Command), c.Args...)
	return declared && slices.Contains(argv, "--health-check") && slices.Contains(argv, "--exit-zero-on-sigterm") &&
		slices.Contains(argv, "--http-address=0.0.0.0")
}

// isProxyImage tells a proxy container (this proxy's image, which WithImage
// may have set to anything, or any image proxycmd recognises) from an
// unrelated one.
func (p *Proxy) isProxyImage(image string) bool {
	return image == p.image || proxycmd.ImageGeneration(image) != proxycmd.None
}

// checkPod finds everything in spec that clashes with the proxy.
func (p *Proxy) checkPod(spec *corev1.PodSpec, at found) problems {
	var errs problems
	name := p.Name()
	if spec.HostNetwork {
		errs = append(errs, invalid(field.NewPath("hostNetwork"), true, ReasonPodUnsupported,
			"the proxy would bind its ports on the node's network, shared with every other host-network pod there"))
	}
	if spec.OS != nil && spec.OS.Name == corev1.Windows {
		errs = append(errs, invalid(field.NewPath("os", "name"), string(spec.OS.Name), ReasonPodUnsupported,
			"the proxy's images are Linux-only, and its Linux security context is forbidden in a Windows pod"))
	}
	if p.mode == modeJob && (spec.RestartPolicy == "" || spec.RestartPolicy == corev1.RestartPolicyAlways) {
		errs = append(errs, invalid(field.NewPath("restartPolicy"), string(spec.RestartPolicy), ReasonPodUnsupported,
			"a Job-mode proxy needs a pod that can complete (Never or OnFailure); restartPolicy Always (the default) restarts it forever"))
	}

	for _, l := range containerLists(spec) {
		for i := range l.cs {
			c := &l.cs[i]
			if c.Name == name {
				continue
			}
			// A second proxy would bind the same listeners (and usually the
			// same health port): the pod would crash-loop on a port clash.
			// MayRun spares Attach reading every container's command.
			gen := proxycmd.None
			if proxycmd.MayRun(c) {
				gen = proxycmd.Detect(c)
			}
			if gen != proxycmd.None {
				errs = append(errs, invalid(field.NewPath(l.name).Index(i).Child("name"), c.Name, ReasonSecondProxy,
					fmt.Sprintf("container %q already runs a Cloud SQL Auth Proxy (%s); attaching %q beside it would run two: replace it by naming this proxy %q, or remove it first", c.Name, gen, name, c.Name)).
					involving(field.NewPath("WithName")))
				continue
			}
			// Paths are built only for an error: building them for every
			// port made Attach's allocations grow with the pod's size.
			pp := func(j int) *field.Path { return field.NewPath(l.name).Index(i).Child("ports").Index(j) }
			for j, port := range c.Ports {
				for _, mine := range p.ports {
					if port.ContainerPort == mine.number {
						errs = append(errs, invalid(pp(j).Child("containerPort"), port.ContainerPort, ReasonPortInUse,
							fmt.Sprintf("container %q declares port %d, which the proxy %q uses for its %s", c.Name, port.ContainerPort, name, mine)))
					}
				}
				if port.Name == HealthPortName {
					errs = append(errs, invalid(pp(j).Child("name"), port.Name, ReasonNameInUse,
						fmt.Sprintf("container %q declares the port name %q, which the proxy %q uses for its health checks", c.Name, port.Name, name)))
				}
			}
		}
	}

	if len(p.appEnv) > 0 || len(p.appMounts) > 0 {
		if p.mode == modeNative {
			errs = append(errs, p.checkWiring("initContainers", spec.InitContainers, at.list == inInit, at.index)...)
		}
		errs = append(errs, p.checkWiring("containers", spec.Containers, false, 0)...)
	}

	for _, v := range p.volumes {
		if i := volumeIndex(spec.Volumes, v.Name); i >= 0 && !equality.Semantic.DeepEqual(spec.Volumes[i], v) {
			errs = append(errs, invalid(field.NewPath("volumes").Index(i), v.Name, ReasonNameInUse,
				fmt.Sprintf("the pod already has a volume named %q with other content than the proxy's", v.Name)))
		}
	}
	if at.list == nowhere {
		errs = append(errs, p.checkFresh(spec)...)
	}
	return errs
}

// checkFresh finds, in a pod without the proxy, what Detach would remove
// although Attach did not add it: an environment variable, mount or volume
// equal to one the proxy sets. Refusing it keeps Detach an exact undo.
func (p *Proxy) checkFresh(spec *corev1.PodSpec) problems {
	if len(p.appEnv) == 0 && len(p.appMounts) == 0 && len(p.volumes) == 0 {
		return nil
	}
	var errs problems
	const why = "; attaching the proxy adds it and taking the proxy out removes it, so the pod must not have it before the proxy %q is attached"
	for _, l := range containerLists(spec) {
		for i := range l.cs {
			c := &l.cs[i]
			for j, e := range c.Env {
				if p.setsEnv(e) {
					errs = append(errs, invalid(field.NewPath(l.name).Index(i).Child("env").Index(j).Child("name"), e.Name, ReasonAlreadyPresent,
						fmt.Sprintf("container %q already sets %s to the proxy's value"+why, c.Name, e.Name, p.Name())))
				}
			}
			for j, m := range c.VolumeMounts {
				if p.addsMount(m) {
					errs = append(errs, invalid(field.NewPath(l.name).Index(i).Child("volumeMounts").Index(j).Child("mountPath"), m.MountPath, ReasonAlreadyPresent,
						fmt.Sprintf("container %q already has the proxy's socket mount"+why, c.Name, p.Name())))
				}
			}
		}
	}
	for i, v := range spec.Volumes {
		if p.addsVolume(v) {
			errs = append(errs, invalid(field.NewPath("volumes").Index(i).Child("name"), v.Name, ReasonAlreadyPresent,
				fmt.Sprintf("the pod already has the proxy's volume"+why, p.Name())))
		}
	}
	return errs
}

// checkWiring finds environment variables and mount paths that the proxy
// would set in the containers of one list and that they already use
// otherwise. When the list holds the proxy at proxyAt, only the containers
// after it are wired.
func (p *Proxy) checkWiring(listName string, cs []corev1.Container, hasProxy bool, proxyAt int) problems {
	var errs problems
	start := 0
	if hasProxy {
		start = proxyAt + 1
	}
	for i := start; i < len(cs); i++ {
		c := &cs[i]
		if c.Name == p.Name() {
			continue
		}
		cp := func() *field.Path { return field.NewPath(listName).Index(i) } // only for an error
		for _, e := range p.appEnv {
			if j := envIndex(c.Env, e.Name); j >= 0 && (c.Env[j].Value != e.Value || c.Env[j].ValueFrom != nil) {
				errs = append(errs, invalid(cp().Child("env").Index(j).Child("value"), c.Env[j].Value, ReasonInUse,
					fmt.Sprintf("container %q already sets %s; the proxy %q would set it to %q", c.Name, e.Name, p.Name(), e.Value)))
			}
		}
		for _, m := range p.appMounts {
			if j := mountIndex(c.VolumeMounts, m.MountPath); j >= 0 && !sameMount(c.VolumeMounts[j], m) {
				errs = append(errs, invalid(cp().Child("volumeMounts").Index(j).Child("mountPath"), m.MountPath, ReasonInUse,
					fmt.Sprintf("container %q already mounts volume %q at the proxy's socket directory", c.Name, c.VolumeMounts[j].Name)))
			}
			for j, d := range c.VolumeDevices {
				if d.DevicePath == m.MountPath {
					errs = append(errs, invalid(cp().Child("volumeDevices").Index(j).Child("devicePath"), d.DevicePath, ReasonInUse,
						fmt.Sprintf("container %q already has block device %q at the proxy's socket directory", c.Name, d.Name)))
				}
			}
		}
	}
	return errs
}

// Detach removes from spec what [Proxy.Attach] added: the container named
// like the proxy, the proxy's volumes, and the environment variables and
// mounts it set in the other containers (those whose values are the ones
// this proxy sets). Attach followed by Detach gives back the original spec
// (an empty list may come back nil): Attach refuses a pod that already has
// any of these without the proxy. Detach on a pod without the proxy
// changes nothing; a container with the proxy's name that runs another
// image is an error wrapping [ErrConflict], and spec is left unchanged.
func (p *Proxy) Detach(spec *corev1.PodSpec) error {
	if spec == nil {
		return ErrNilPodSpec
	}
	at, errs := p.locate(spec, false)
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrConflict, errs.aggregate())
	}
	init, regular := spec.InitContainers, spec.Containers
	switch at.list {
	case inInit:
		init = slices.Delete(slices.Clone(init), at.index, at.index+1)
	case inContainers:
		regular = slices.Delete(slices.Clone(regular), at.index, at.index+1)
	}
	spec.InitContainers, spec.Containers = nilIfEmpty(p.unwire(init)), nilIfEmpty(p.unwire(regular))

	if len(p.volumes) > 0 {
		vols := slices.DeleteFunc(slices.Clone(spec.Volumes), p.addsVolume)
		if len(vols) != len(spec.Volumes) {
			spec.Volumes = nilIfEmpty(vols)
		}
	}
	return nil
}

// unwire removes this proxy's environment variables and mounts from cs, on
// fresh slices.
func (p *Proxy) unwire(cs []corev1.Container) []corev1.Container {
	if len(p.appEnv) == 0 && len(p.appMounts) == 0 {
		return cs
	}
	var out []corev1.Container
	for i := range cs {
		env := slices.DeleteFunc(slices.Clone(cs[i].Env), p.setsEnv)
		mounts := slices.DeleteFunc(slices.Clone(cs[i].VolumeMounts), p.addsMount)
		if len(env) == len(cs[i].Env) && len(mounts) == len(cs[i].VolumeMounts) {
			continue
		}
		if out == nil {
			out = slices.Clone(cs)
		}
		out[i].Env, out[i].VolumeMounts = nilIfEmpty(env), nilIfEmpty(mounts)
	}
	if out == nil {
		return cs
	}
	return out
}

// sameMount compares mounts field by field: newer k8s.io/api versions add
// slice fields to VolumeMount, which makes == stop compiling.
func sameMount(a, b corev1.VolumeMount) bool { return equality.Semantic.DeepEqual(a, b) }

// setsEnv, addsMount and addsVolume tell what Attach adds, by equality:
// Detach removes exactly these, and Attach refuses a pod without the proxy
// that already has one of them.
func (p *Proxy) setsEnv(e corev1.EnvVar) bool {
	return e.ValueFrom == nil && slices.ContainsFunc(p.appEnv, func(mine corev1.EnvVar) bool {
		return mine.Name == e.Name && mine.Value == e.Value
	})
}

func (p *Proxy) addsMount(m corev1.VolumeMount) bool {
	return slices.ContainsFunc(p.appMounts, func(mine corev1.VolumeMount) bool { return sameMount(mine, m) })
}

func (p *Proxy) addsVolume(v corev1.Volume) bool {
	i := volumeIndex(p.volumes, v.Name)
	return i >= 0 && equality.Semantic.DeepEqual(p.volumes[i], v)
}

// overruns are the pod's resource budgets the proxy overruns, as problems.
func overruns(os []podres.Overrun) problems {
	var out problems
	for _, o := range os {
		pr := invalid(o.Path, o.Budget, ReasonNoRoom, o.Detail)
		if o.Requests {
			pr.involving(field.NewPath("WithResources"))
		}
		out = append(out, pr)
	}
	return out
}

// containerList is one of a pod's container lists with its field name.
type containerList struct {
	name string
	cs   []corev1.Container
}

func containerLists(spec *corev1.PodSpec) [2]containerList {
	return [2]containerList{{"initContainers", spec.InitContainers}, {"containers", spec.Containers}}
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

func containerIndex(cs []corev1.Container, name string) int {
	return slices.IndexFunc(cs, func(c corev1.Container) bool { return c.Name == name })
}

func volumeIndex(vs []corev1.Volume, name string) int {
	return slices.IndexFunc(vs, func(v corev1.Volume) bool { return v.Name == name })
}

func envIndex(env []corev1.EnvVar, name string) int {
	return slices.IndexFunc(env, func(e corev1.EnvVar) bool { return e.Name == name })
}

func mountIndex(ms []corev1.VolumeMount, mountPath string) int {
	return slices.IndexFunc(ms, func(m corev1.VolumeMount) bool { return m.MountPath == mountPath })
}
