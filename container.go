package cloudsqlproxy

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Container returns the proxy container. Each call returns a fresh deep
// copy, which the caller may change freely.
func (p *Proxy) Container() corev1.Container {
	c := corev1.Container{
		Name:            p.name,
		Image:           p.image,
		ImagePullPolicy: p.pullPolicy,
		Command:         slices.Clone(p.command),
		Args:            slices.Clone(p.args),
		Ports: []corev1.ContainerPort{{
			Name:          HealthPortName,
			ContainerPort: p.healthPort,
			Protocol:      corev1.ProtocolTCP,
		}},
		Resources:                resources(p.resources),
		VolumeMounts:             slices.Clone(p.mounts),
		StartupProbe:             probe("/startup", p.startup),
		LivenessProbe:            probe("/liveness", p.liveness),
		TerminationMessagePath:   corev1.TerminationMessagePathDefault,
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		SecurityContext:          securityContext(),
	}
	if p.readiness != nil {
		c.ReadinessProbe = probe("/readiness", *p.readiness)
	}
	if p.mode == modeNative {
		always := corev1.ContainerRestartPolicyAlways
		c.RestartPolicy = &always
	}
	if p.hook != nil {
		c.Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: slices.Clone(p.hook)}}}
	}
	return c
}

// Volumes returns the volumes the proxy container mounts, which
// [Proxy.Attach] adds to the pod: the Unix socket directory and the
// credentials Secret, when configured. The result is a fresh copy, nil when
// there are none.
func (p *Proxy) Volumes() []corev1.Volume {
	if len(p.volumes) == 0 {
		return nil
	}
	out := make([]corev1.Volume, len(p.volumes))
	for i := range p.volumes {
		p.volumes[i].DeepCopyInto(&out[i])
	}
	return out
}

// build renders a validated plan into a Proxy.
func build(pl *plan) *Proxy {
	c := pl.c
	p := &Proxy{
		mode:       c.mode,
		name:       c.name,
		image:      pl.image,
		pullPolicy: c.pullPolicy,
		command:    []string{binary},
		args:       args(pl),
		healthPort: c.healthPort,
		resources:  c.resources.DeepCopy(), // the caller's maps stay the caller's
		adopted:    c.adopted,
		adoptFacts: c.adoptFacts,
		startup:    timing(c.startup, defaultStartup),
		liveness:   timing(c.liveness, defaultLiveness),
	}
	if c.readiness != nil {
		r := timing(*c.readiness, defaultReadiness)
		p.readiness = &r
	}
	p.ports = ports(pl)
	if c.socketDir == "" {
		p.listenAddress = c.address
	}

	if c.mode != modeNative {
		// A regular container starts in parallel with the application: the
		// postStart hook holds the application back until the proxy listens.
		p.hook = waitCommand(c.healthPort, p.startup)
	}
	if c.mode == modeJob {
		p.appEnv = append(p.appEnv, corev1.EnvVar{
			Name:  QuitURLsEnv,
			Value: fmt.Sprintf("http://localhost:%d/quitquitquit", c.adminPort),
		})
		if c.jobTimeout > 0 {
			p.command = jobCommand(c.jobTimeout, p.args)
			p.args = nil
		}
	}

	p.volumes, p.mounts, p.appMounts = volumes(c)
	p.appEnv = append(p.appEnv, appEnv(pl)...)
	return p
}

// ports lists the ports the proxy listens on, for Attach's clash checks.
func ports(pl *plan) []proxyPort {
	c := pl.c
	out := make([]proxyPort, 0, 2+len(pl.insts))
	out = append(out, proxyPort{c.healthPort, "health check", ""})
	if pl.usesAdmin() {
		out = append(out, proxyPort{c.adminPort, "admin", ""})
	}
	for _, in := range pl.insts {
		if in.port != 0 {
			out = append(out, proxyPort{in.port, "listener of", in.name})
		}
	}
	return out
}

// The proxy's volumes are named after its container, with these suffixes.
const (
	socketsVolumeSuffix     = "-sockets"
	credentialsVolumeSuffix = "-credentials"
)

// volumes gives the proxy's volumes (the socket directory and the key
// file's Secret), its own mounts of them, and the application's mount of
// the socket directory.
func volumes(c *config) (volumes []corev1.Volume, mounts, appMounts []corev1.VolumeMount) {
	if c.socketDir != "" {
		vol := corev1.Volume{Name: c.name + socketsVolumeSuffix, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
		volumes = append(volumes, vol)
		mount := corev1.VolumeMount{Name: vol.Name, MountPath: c.socketDir}
		mounts = append(mounts, mount)
		appMounts = append(appMounts, mount)
	}
	if c.credentialsSecret != "" {
		// Readable by all: without a pod fsGroup (which would re-own the app's volumes
		// too) the kubelet writes the files as root:root, so 0440 would shut out the
		// proxy's own non-root user. Only the proxy container mounts the volume.
		mode := int32(0o444)
		vol := corev1.Volume{Name: c.name + credentialsVolumeSuffix, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName:  c.credentialsSecret,
			DefaultMode: &mode,
		}}}
		volumes = append(volumes, vol)
		mounts = append(mounts, corev1.VolumeMount{Name: vol.Name, MountPath: credentialsDir, ReadOnly: true})
	}
	return volumes, mounts, appMounts
}

// appEnv gives the variables WithAppEnv asks the application's containers
// to be given.
func appEnv(pl *plan) (env []corev1.EnvVar) {
	c := pl.c
	for _, ae := range c.appEnv {
		var in instance
		for _, cand := range pl.insts {
			if cand.name == ae.instance {
				in = cand
			}
		}
		if ae.env.Host != "" {
			env = append(env, corev1.EnvVar{Name: ae.env.Host, Value: c.address})
		}
		if ae.env.Port != "" {
			env = append(env, corev1.EnvVar{Name: ae.env.Port, Value: strconv.Itoa(int(in.port))})
		}
		if ae.env.Socket != "" {
			env = append(env, corev1.EnvVar{Name: ae.env.Socket, Value: kubeEscape(c.socketDir + "/" + in.name)})
		}
	}
	return env
}

// args renders the proxy's flags in the flag table's order, instances last.
func args(p *plan) []string {
	a := renderFlags(make([]string, 0, 12+len(p.insts)), p)
	for _, in := range p.insts {
		a = append(a, in.arg())
	}
	return a
}

// waitCommand blocks, as a postStart hook, until the proxy's /startup answers
// 200. The kubelet starts a pod's regular containers in order and does not
// start the next one until the previous one's postStart hook has returned,
// so the containers after the proxy start only once it listens. The exec
// form needs no shell, so it works on the distroless image.
func waitCommand(healthPort int32, startup ProbeTiming) []string {
	return []string{binary, "wait",
		"--http-address=127.0.0.1",
		"--http-port=" + strconv.Itoa(int(healthPort)),
		"--max=" + strconv.FormatInt(startupBudget(startup), 10) + "s",
	}
}

// kubeEscape protects a value from the kubelet, which expands $(NAME) in
// args and env values and turns $$ into $: doubling every $ makes the
// process see exactly the configured value.
func kubeEscape(s string) string { return strings.ReplaceAll(s, "$", "$$") }

// timing fills the zero fields of set from def.
func timing(set, def ProbeTiming) ProbeTiming {
	pick := func(v, d int32) int32 {
		if v > 0 {
			return v
		}
		return d
	}
	return ProbeTiming{
		InitialDelaySeconds: pick(set.InitialDelaySeconds, def.InitialDelaySeconds),
		PeriodSeconds:       pick(set.PeriodSeconds, def.PeriodSeconds),
		TimeoutSeconds:      pick(set.TimeoutSeconds, def.TimeoutSeconds),
		FailureThreshold:    pick(set.FailureThreshold, def.FailureThreshold),
	}
}

func probe(path string, t ProbeTiming) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path:   path,
			Port:   intstr.FromString(HealthPortName),
			Scheme: corev1.URISchemeHTTP,
		}},
		InitialDelaySeconds: t.InitialDelaySeconds,
		PeriodSeconds:       t.PeriodSeconds,
		TimeoutSeconds:      t.TimeoutSeconds,
		FailureThreshold:    t.FailureThreshold,
		SuccessThreshold:    1,
	}
}

// startupBudget is how many seconds the startup probe lets the proxy take,
// which is also how long the postStart wait hook waits. It is computed in
// int64, since large timings overflow int32 into a negative --max, and
// capped where the proxy's time.Duration flag would overflow.
func startupBudget(p ProbeTiming) int64 {
	return min(int64(p.InitialDelaySeconds)+int64(p.PeriodSeconds)*int64(p.FailureThreshold), math.MaxInt32)
}

// resources copies set, or gives the defaults when it is nil.
func resources(set *corev1.ResourceRequirements) corev1.ResourceRequirements {
	if set != nil {
		return *set.DeepCopy()
	}
	return corev1.ResourceRequirements{Requests: corev1.ResourceList{
		corev1.ResourceCPU:    defaultCPU.DeepCopy(),
		corev1.ResourceMemory: defaultMemory.DeepCopy(),
	}}
}

// Parsed once: parsing them in every New was a seventh of its time.
var (
	defaultCPU    = resource.MustParse("100m")
	defaultMemory = resource.MustParse("128Mi")
)

// securityContext meets Pod Security "restricted" on its own, whatever the
// pod sets.
func securityContext() *corev1.SecurityContext {
	yes, no := true, false
	id := int64(nonRootID)
	return &corev1.SecurityContext{
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		RunAsUser:                &id,
		RunAsGroup:               &id,
		RunAsNonRoot:             &yes,
		ReadOnlyRootFilesystem:   &yes,
		AllowPrivilegeEscalation: &no,
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}
