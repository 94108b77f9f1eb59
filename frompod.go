package cloudsqlproxy

import (
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/podspec/cloudsqlproxy/internal/proxycmd"
)

var (
	// ErrNoProxy: FromPod was given a pod that runs no Cloud SQL Auth Proxy
	// (after taking out what an earlier [Proxy.AttachTo] recorded).
	ErrNoProxy = errors.New("cloudsqlproxy: the pod runs no Cloud SQL Auth Proxy")
	// ErrStandaloneProxy: FromPod was given a pod whose only container is
	// the proxy, serving other pods through a Service (upstream's
	// k8s-service pattern). It is no sidecar: leave it as it is.
	ErrStandaloneProxy = errors.New("cloudsqlproxy: the proxy is the pod's only container, not a sidecar")
)

// An AdoptError is FromPod's error when the settings it read from the
// pod's proxy do not make a valid Proxy together with the options given:
// Err is [New]'s error, whose field paths name options, and Container is
// the path of the proxy container in the pod spec, so that a caller can
// say which container it was adopting.
type AdoptError struct {
	Container *field.Path
	Err       error
}

// Error names the container, then New's error.
func (e *AdoptError) Error() string {
	return fmt.Sprintf("%s: adopting this proxy: %v", e.Container, e.Err)
}

// Unwrap returns New's error, so that errors.Is finds [ErrInvalidConfig]
// and [ErrUnsupportedVersion] through it.
func (e *AdoptError) Unwrap() error { return e.Err }

// FromPod returns the Proxy that takes over the Cloud SQL Auth Proxy a pod
// already runs, with its settings as [FromContainer] reads them and opts
// laid over them, ready for [Proxy.Attach] or [Proxy.AttachTo] on the same
// pod. It is the adoption policy of the command's inject, for any caller
// (an operator, a webhook, an infrastructure-as-code program):
//
//   - A pod that an earlier [Proxy.AttachTo] changed (meta holds the
//     record; meta may be nil) is read from its proxy as the pod has it
//     now, so that edits made since (a bot bumping the image tag) are kept
//     unless opts say otherwise; the container that injection replaced, if
//     any, is still the one [Proxy.Attach] replaces in place, and the
//     mode ([WithLegacySidecar], [ForJob]) is opts' each time.
//   - The proxy may be in either container list, under any name, v1 or v2.
//     A pod with none is [ErrNoProxy]; a pod with two or more is an error
//     naming each (wrapping [ErrConflict]): which one to keep is the
//     owner's decision. A pod whose only regular container is the proxy
//     runs it for other pods and is [ErrStandaloneProxy].
//   - Options given win over the adopted settings. [WithInstance] options
//     given replace the adopted instances as a whole (the first one given
//     becomes the first instance); without them the adopted ones stay.
//   - The adopted proxy keeps its container name: a [WithName] of another
//     name would put a second proxy beside it, and is an error.
//
// FromPod changes neither meta nor spec. A setting it cannot carry over is
// an error naming the container's field in the pod spec (as
// "initContainers[0].args[2]"), wrapping [ErrInvalidConfig]; settings that
// do not go together with opts are an [*AdoptError].
func FromPod(meta *metav1.ObjectMeta, spec *corev1.PodSpec, opts ...Option) (*Proxy, error) {
	if spec == nil {
		return nil, ErrNilPodSpec
	}
	base, current, err := beforeInjection(meta, spec)
	if err != nil {
		return nil, err
	}
	c, at, err := onlyProxy(base)
	if current != nil && errors.Is(err, ErrNoProxy) {
		c, at, err = nil, nil, nil // the library added the proxy: nothing to replace in place
	}
	if err != nil {
		return nil, err
	}
	if c != nil && (len(base.Containers) == 0 || (len(base.Containers) == 1 && c == &base.Containers[0])) {
		return nil, fmt.Errorf("%w: %s %q", ErrStandaloneProxy, at, c.Name)
	}
	// The settings come from the proxy as the pod has it now: after an
	// injection, edits made since (a bot bumping the image tag) are kept
	// unless opts say otherwise.
	src, srcAt, volumes := c, at, base.Volumes
	if current != nil {
		src, srcAt, volumes = current.c, current.at, spec.Volumes
	}
	a := newAdopter(src, volumes, srcAt)
	a.facts.container = at
	insts, adopted := a.read()
	if len(a.errs) > 0 {
		return nil, &configError{errs: a.errs.aggregate()}
	}
	if current != nil {
		adopted = append(adopted, originalOf(c, at, base.Volumes))
	}
	cfg := defaultConfig(insts[0])
	cfg.instances = slices.Clone(insts)
	cfg.apply(adopted)
	n := len(cfg.instances)
	cfg.apply(opts)
	if len(cfg.instances) > n {
		cfg.instances = slices.Clone(cfg.instances[n:])
	}
	if cfg.name != src.Name {
		return nil, &AdoptError{Container: srcAt, Err: &configError{errs: problems{invalid(field.NewPath("WithName"), cfg.name, ReasonSecondProxy,
			fmt.Sprintf("the adopted proxy keeps its name %q: another name would put a second proxy beside it", src.Name))}.aggregate()}}
	}
	p, err := newFromConfig(&cfg)
	if err != nil {
		return nil, &AdoptError{Container: srcAt, Err: err}
	}
	return p, nil
}

// injected is the proxy container an earlier AttachTo put in a pod, as
// the pod has it now.
type injected struct {
	c  *corev1.Container
	at *field.Path
}

// beforeInjection gives the pod as it was before the injection meta
// records, and the injected proxy as the pod has it now; without a record,
// spec itself and nil.
func beforeInjection(meta *metav1.ObjectMeta, spec *corev1.PodSpec) (*corev1.PodSpec, *injected, error) {
	name, err := RecordedProxy(meta)
	if err != nil || name == "" {
		return spec, nil, err
	}
	base := spec.DeepCopy()
	if _, err := DetachFrom(meta.DeepCopy(), base); err != nil {
		return nil, nil, err
	}
	var cur *injected
	for _, l := range containerLists(spec) {
		for i := range l.cs {
			if l.cs[i].Name == name {
				cur = &injected{c: unwrapJob(&l.cs[i]), at: field.NewPath(l.name).Index(i)}
			}
		}
	}
	return base, cur, nil
}

// unwrapJob gives a Job-mode proxy that runs under the library's timeout
// wrapper as the proxy command it wraps, for reading its settings; any
// other container as it is.
func unwrapJob(c *corev1.Container) *corev1.Container {
	const before = 5 // /bin/sh -c SCRIPT NAME TIMEOUT, then the proxy's argv
	if len(c.Command) <= before || c.Command[2] != jobScript || c.Command[5] != binary {
		return c
	}
	out := c.DeepCopy()
	out.Command, out.Args = []string{binary}, slices.Clone(c.Command[before+1:])
	return out
}

// originalOf is the option that makes the container an injection replaced
// (nil when it added the proxy) the one Attach replaces in place, with the
// notes of adopting it; its settings were read from the proxy as the pod
// has it now.
func originalOf(c *corev1.Container, at *field.Path, volumes []corev1.Volume) Option {
	var facts *adoptFacts
	var orig *corev1.Container
	if c != nil {
		a := newAdopter(c, volumes, at)
		a.facts.container = at
		a.read()
		facts, orig = a.facts, c.DeepCopy()
	}
	return optionFunc(func(cfg *config) { cfg.adopted, cfg.adoptFacts = orig, facts })
}

// onlyProxy finds the pod's one proxy container and its path.
func onlyProxy(spec *corev1.PodSpec) (*corev1.Container, *field.Path, error) {
	var found []*field.Path
	var c *corev1.Container
	for _, l := range containerLists(spec) {
		for i := range l.cs {
			if proxycmd.Detect(&l.cs[i]) == proxycmd.None {
				continue
			}
			found = append(found, field.NewPath(l.name).Index(i))
			if c == nil {
				c = &l.cs[i]
			}
		}
	}
	switch len(found) {
	case 0:
		return nil, nil, ErrNoProxy
	case 1:
		return c, found[0], nil
	}
	var errs problems
	for _, p := range found {
		errs = append(errs, &Problem{Field: p, Type: field.ErrorTypeForbidden, Reason: ReasonSecondProxy,
			Detail: fmt.Sprintf("one of %d Cloud SQL proxies in the pod: keep one, remove the others, then adopt it", len(found))})
	}
	return nil, nil, fmt.Errorf("%w: %w", ErrConflict, errs.aggregate())
}
