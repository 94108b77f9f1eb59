package csqlpulumi

import (
	"errors"
	"fmt"

	pcorev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/podspec/cloudsqlproxy"
)

// Sidecar is a proxy in pulumi-kubernetes' types: what
// [cloudsqlproxy.Proxy.Attach] adds to a pod, for a pod built as Pulumi
// arguments. Put Container first in the pod's InitContainers when Init is
// true, first in its Containers otherwise; append Volumes to the pod's
// volumes; append AppEnv and AppVolumeMounts to every application
// container (with Init, also to the init containers after the proxy).
type Sidecar struct {
	// Container is the proxy container, [cloudsqlproxy.Proxy.Container].
	Container pcorev1.ContainerArgs
	// Init says the proxy is a native sidecar: the first init container.
	Init bool
	// Volumes are the pod volumes the proxy needs; nil when none.
	Volumes pcorev1.VolumeArray
	// AppEnv are the environment variables for the application
	// containers; nil when none.
	AppEnv pcorev1.EnvVarArray
	// AppVolumeMounts are the application containers' socket mounts; nil
	// when none.
	AppVolumeMounts pcorev1.VolumeMountArray
}

// FromProxy converts a proxy built with [cloudsqlproxy.New] to
// pulumi-kubernetes arguments. It fails only on a nil proxy or on a field
// the converters cannot carry over (see [ErrUnconvertible]); it never drops
// one.
func FromProxy(p *cloudsqlproxy.Proxy) (Sidecar, error) {
	if p == nil {
		return Sidecar{}, errors.New("csqlpulumi: nil Proxy")
	}
	c, err := ToContainerArgs(p.Container())
	if err != nil {
		return Sidecar{}, err
	}
	s := Sidecar{Container: c, Init: p.NativeSidecar()}
	if s.Volumes, err = convertAll(p.Volumes(), ToVolumeArgs, pcorev1.VolumeArray{}); err != nil {
		return Sidecar{}, err
	}
	if s.AppEnv, err = convertAll(p.AppEnv(), ToEnvVarArgs, pcorev1.EnvVarArray{}); err != nil {
		return Sidecar{}, err
	}
	if s.AppVolumeMounts, err = convertAll(p.AppVolumeMounts(), ToVolumeMountArgs, pcorev1.VolumeMountArray{}); err != nil {
		return Sidecar{}, err
	}
	return s, nil
}

// convertAll converts each of in and collects pointers to the results in
// an array of A's element type; nil for an empty in, so that a pod without
// the part gets no empty list.
func convertAll[K any, A any, E any, Arr ~[]E](in []K, conv func(K) (A, error), _ Arr) (Arr, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make(Arr, 0, len(in))
	for _, k := range in {
		a, err := conv(k)
		if err != nil {
			return nil, err
		}
		e, ok := any(&a).(E)
		if !ok {
			return nil, fmt.Errorf("csqlpulumi: %T is no %T", &a, e) // a table mistake, not a user's
		}
		out = append(out, e)
	}
	return out, nil
}

// SidecarOutput is a [Sidecar] whose proxy is built only once a Pulumi
// input resolves; see [Apply]. Its outputs carry the input's dependencies
// and secrecy.
type SidecarOutput struct {
	// Container is the proxy container.
	Container pcorev1.ContainerOutput
	// Init resolves to true for a native sidecar. The proxy's place in
	// the pod (InitContainers or Containers) is fixed before any output
	// resolves, so the program must put it where its build function's
	// mode says; a mismatch is rejected by the API server, since a native
	// sidecar's restartPolicy is forbidden on a regular container and a
	// regular container's probes and hook on an init container.
	Init pulumi.BoolOutput
	// Volumes, AppEnv and AppVolumeMounts are as in [Sidecar]; they
	// resolve to empty arrays when there are none.
	Volumes         pcorev1.VolumeArrayOutput
	AppEnv          pcorev1.EnvVarArrayOutput
	AppVolumeMounts pcorev1.VolumeMountArrayOutput
}

// Apply builds the proxy from a Pulumi input, such as a Cloud SQL
// instance's connection name or a Secret's name, once it resolves. T is the
// input's element type: string for a StringOutput, *string for a
// StringPtrOutput, []interface{} for [pulumi.All]. An error from build, or
// from the conversion, fails the Pulumi program with that error, so
// [errors.Is] still finds [cloudsqlproxy.ErrInvalidConfig] in what
// [pulumi.RunErr] returns.
func Apply[T any](in pulumi.Input, build func(T) (*cloudsqlproxy.Proxy, error)) SidecarOutput {
	sc := pulumi.ToOutput(in).ApplyT(func(v T) (any, error) {
		p, err := build(v)
		if err != nil {
			return nil, err
		}
		return FromProxy(p)
	})
	// Each part is an Output, not Args: ApplyT unwraps an Output that an
	// applier returns, but would keep Args as they are, and an ApplyT over
	// the part would then get Args where it expects the plain type.
	return SidecarOutput{
		Container: sc.ApplyT(func(v any) pcorev1.ContainerOutput { return v.(Sidecar).Container.ToContainerOutput() }).(pcorev1.ContainerOutput),
		Init:      sc.ApplyT(func(v any) bool { return v.(Sidecar).Init }).(pulumi.BoolOutput),
		Volumes:   sc.ApplyT(func(v any) pcorev1.VolumeArrayOutput { return v.(Sidecar).Volumes.ToVolumeArrayOutput() }).(pcorev1.VolumeArrayOutput),
		AppEnv:    sc.ApplyT(func(v any) pcorev1.EnvVarArrayOutput { return v.(Sidecar).AppEnv.ToEnvVarArrayOutput() }).(pcorev1.EnvVarArrayOutput),
		AppVolumeMounts: sc.ApplyT(func(v any) pcorev1.VolumeMountArrayOutput {
			return v.(Sidecar).AppVolumeMounts.ToVolumeMountArrayOutput()
		}).(pcorev1.VolumeMountArrayOutput),
	}
}

// Env returns env followed by the proxy's AppEnv, for an application
// container whose own variables are known in the program. A variable the
// container already sets to the same value is not added twice; one it
// sets to another value fails the program with an error wrapping
// [cloudsqlproxy.ErrConflict], as [cloudsqlproxy.Proxy.Attach] would.
func (s SidecarOutput) Env(env ...pcorev1.EnvVarInput) pcorev1.EnvVarArrayOutput {
	return pulumi.All(pcorev1.EnvVarArray(env), s.AppEnv).ApplyT(func(all []any) ([]pcorev1.EnvVar, error) {
		own, add := all[0].([]pcorev1.EnvVar), all[1].([]pcorev1.EnvVar)
		out := append([]pcorev1.EnvVar(nil), own...)
	next:
		for _, e := range add {
			for _, o := range own {
				if o.Name != e.Name {
					continue
				}
				if o.ValueFrom != nil || deref(o.Value) != deref(e.Value) {
					return nil, fmt.Errorf("%w: the container already sets %s; the proxy would set it to %q", cloudsqlproxy.ErrConflict, e.Name, deref(e.Value))
				}
				continue next
			}
			out = append(out, e)
		}
		return out, nil
	}).(pcorev1.EnvVarArrayOutput)
}

// VolumeMounts returns mounts followed by the proxy's AppVolumeMounts, for
// an application container. A mount at the proxy's socket directory of
// another volume fails the program with an error wrapping
// [cloudsqlproxy.ErrConflict].
func (s SidecarOutput) VolumeMounts(mounts ...pcorev1.VolumeMountInput) pcorev1.VolumeMountArrayOutput {
	return pulumi.All(pcorev1.VolumeMountArray(mounts), s.AppVolumeMounts).ApplyT(func(all []any) ([]pcorev1.VolumeMount, error) {
		own, add := all[0].([]pcorev1.VolumeMount), all[1].([]pcorev1.VolumeMount)
		out := append([]pcorev1.VolumeMount(nil), own...)
	next:
		for _, m := range add {
			for _, o := range own {
				if o.MountPath != m.MountPath {
					continue
				}
				if o.Name != m.Name {
					return nil, fmt.Errorf("%w: the container already mounts volume %q at the proxy's socket directory %s", cloudsqlproxy.ErrConflict, o.Name, m.MountPath)
				}
				continue next
			}
			out = append(out, m)
		}
		return out, nil
	}).(pcorev1.VolumeMountArrayOutput)
}

// PodVolumes returns volumes followed by the proxy's Volumes, for the pod.
// A volume of the same name as one of the proxy's fails the program with
// an error wrapping [cloudsqlproxy.ErrConflict].
func (s SidecarOutput) PodVolumes(volumes ...pcorev1.VolumeInput) pcorev1.VolumeArrayOutput {
	return pulumi.All(pcorev1.VolumeArray(volumes), s.Volumes).ApplyT(func(all []any) ([]pcorev1.Volume, error) {
		own, add := all[0].([]pcorev1.Volume), all[1].([]pcorev1.Volume)
		for _, v := range add {
			for _, o := range own {
				if o.Name == v.Name {
					return nil, fmt.Errorf("%w: the pod already has a volume named %q", cloudsqlproxy.ErrConflict, v.Name)
				}
			}
		}
		return append(append([]pcorev1.Volume(nil), own...), add...), nil
	}).(pcorev1.VolumeArrayOutput)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
