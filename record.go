package cloudsqlproxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// StatusAnnotation is the annotation in which [Proxy.AttachTo] records, on
// the pod (or pod template) it attached to, what it added and what it
// replaced, as Istio's sidecar.istio.io/status does: [DetachFrom] reads it
// to take exactly that out again, with no Proxy and no options.
const StatusAnnotation = "cloudsqlproxy.podspec.dev/status"

// ErrBadRecord: the StatusAnnotation of a pod cannot be read, or no longer
// matches the pod (edited by hand after the proxy was attached).
var ErrBadRecord = errors.New("cloudsqlproxy: unreadable injection record")

// record is StatusAnnotation's value.
type record struct {
	Version   int           `json:"version"`
	Container string        `json:"container"`
	Volumes   []string      `json:"volumes,omitempty"`
	Env       []recordEnv   `json:"env,omitempty"`
	Mounts    []recordMount `json:"mounts,omitempty"`
	// Replaced is what Attach took out of the pod: the proxy container it
	// replaced, with the volumes and mounts it took over.
	Replaced *replaced `json:"replaced,omitempty"`
}

type recordEnv struct {
	Container string `json:"container"`
	Name      string `json:"name"`
	Value     string `json:"value"`
}

type recordMount struct {
	Container string             `json:"container"`
	Index     int                `json:"index"`
	Mount     corev1.VolumeMount `json:"mount"`
}

type replaced struct {
	List      string           `json:"list"`
	Index     int              `json:"index"`
	Container corev1.Container `json:"container"`
	Volumes   []indexedVolume  `json:"volumes,omitempty"`
	Mounts    []recordMount    `json:"mounts,omitempty"`
}

type indexedVolume struct {
	Index  int           `json:"index"`
	Volume corev1.Volume `json:"volume"`
}

// AttachTo attaches the proxy to spec like [Proxy.Attach] and records in
// meta's annotations ([StatusAnnotation]) what it added and replaced, for
// [DetachFrom]. meta is the metadata of the object whose spec this is: the
// Pod's, or the pod template's of a workload. A pod that already carries a
// record has that attachment taken out first, so attaching with other
// options replaces it cleanly. On error neither meta nor spec changes.
func (p *Proxy) AttachTo(meta *metav1.ObjectMeta, spec *corev1.PodSpec) error {
	if spec == nil {
		return ErrNilPodSpec
	}
	if meta == nil {
		return errors.New("cloudsqlproxy: AttachTo needs the object's metadata for its record; use Attach without one")
	}
	work := spec.DeepCopy()
	workMeta := meta.DeepCopy()
	if _, err := DetachFrom(workMeta, work); err != nil {
		return err
	}
	before := work.DeepCopy()
	if err := p.Attach(work); err != nil {
		return err
	}
	rec := p.recordOf(before, work)
	value, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("cloudsqlproxy: encoding the injection record: %w", err)
	}
	if workMeta.Annotations == nil {
		workMeta.Annotations = map[string]string{}
	}
	workMeta.Annotations[StatusAnnotation] = string(value)
	*spec, meta.Annotations = *work, workMeta.Annotations
	return nil
}

// recordOf compares the pod before and after Attach.
func (p *Proxy) recordOf(before, after *corev1.PodSpec) record {
	rec := record{Version: 1, Container: p.Name()}
	for _, v := range after.Volumes {
		if volumeIndex(before.Volumes, v.Name) < 0 {
			rec.Volumes = append(rec.Volumes, v.Name)
		}
	}
	for i, v := range before.Volumes {
		if volumeIndex(after.Volumes, v.Name) < 0 {
			rec.replacedPart().Volumes = append(rec.replacedPart().Volumes, indexedVolume{i, v})
		}
	}
	at, _ := p.locate(before, false)
	if at.list != nowhere {
		old, _ := at.container(before)
		r := rec.replacedPart()
		r.List, r.Index, r.Container = listName(at.list), at.index, *old.DeepCopy()
	}
	for _, l := range containerLists(after) {
		for _, c := range l.cs {
			if c.Name == p.Name() {
				continue
			}
			prev := findContainer(before, c.Name)
			for _, e := range c.Env {
				if prev == nil || envIndex(prev.Env, e.Name) < 0 {
					rec.Env = append(rec.Env, recordEnv{c.Name, e.Name, e.Value})
				}
			}
			for j, m := range c.VolumeMounts {
				if prev == nil || !slices.ContainsFunc(prev.VolumeMounts, func(pm corev1.VolumeMount) bool { return sameMount(pm, m) }) {
					rec.Mounts = append(rec.Mounts, recordMount{c.Name, j, m})
				}
			}
			if prev == nil {
				continue
			}
			for j, m := range prev.VolumeMounts {
				if !slices.ContainsFunc(c.VolumeMounts, func(am corev1.VolumeMount) bool { return sameMount(am, m) }) {
					rec.replacedPart().Mounts = append(rec.replacedPart().Mounts, recordMount{c.Name, j, m})
				}
			}
		}
	}
	if rec.Replaced != nil && rec.Replaced.List == "" {
		// Only volumes or mounts went, never without a replaced container;
		// keep the record honest rather than restore half of it.
		rec.Replaced = nil
	}
	return rec
}

func (r *record) replacedPart() *replaced {
	if r.Replaced == nil {
		r.Replaced = &replaced{}
	}
	return r.Replaced
}

func listName(l list) string {
	if l == inInit {
		return "initContainers"
	}
	return "containers"
}

func findContainer(spec *corev1.PodSpec, name string) *corev1.Container {
	for _, l := range containerLists(spec) {
		if i := containerIndex(l.cs, name); i >= 0 {
			return &l.cs[i]
		}
	}
	return nil
}

// DetachFrom takes out of spec what the [StatusAnnotation] record in meta
// says [Proxy.AttachTo] added, puts back what it replaced, and removes the
// record; it needs neither the Proxy nor its options. It reports whether
// meta held a record: without one nothing changes. A record that cannot be
// read, or names a container, volume, variable or mount the pod no longer
// has as it was added, is an error wrapping [ErrBadRecord], naming what
// differs; meta and spec are then left unchanged.
func DetachFrom(meta *metav1.ObjectMeta, spec *corev1.PodSpec) (bool, error) {
	if spec == nil {
		return false, ErrNilPodSpec
	}
	if meta == nil {
		return false, nil
	}
	value, ok := meta.Annotations[StatusAnnotation]
	if !ok {
		return false, nil
	}
	ap := field.NewPath("metadata", "annotations").Key(StatusAnnotation)
	rec, err := readRecord(value)
	if err != nil {
		return false, err
	}
	work := spec.DeepCopy()
	errs := rec.check(ap)
	if len(errs) == 0 {
		errs = rec.undo(work)
	}
	if len(errs) > 0 {
		return false, fmt.Errorf("%w: %w", ErrBadRecord, errs.aggregate())
	}
	annotations := make(map[string]string, len(meta.Annotations))
	for k, v := range meta.Annotations {
		if k != StatusAnnotation {
			annotations[k] = v
		}
	}
	*spec = *work
	meta.Annotations = nilIfEmptyMap(annotations)
	return true, nil
}

// RecordedProxy returns the name of the proxy container that the
// [StatusAnnotation] record in meta says [Proxy.AttachTo] added, so that a
// caller can tell that container from the others before [DetachFrom] takes
// it out; "" when meta holds no record. A record that cannot be read is an
// error wrapping [ErrBadRecord].
func RecordedProxy(meta *metav1.ObjectMeta) (string, error) {
	if meta == nil {
		return "", nil
	}
	value, ok := meta.Annotations[StatusAnnotation]
	if !ok {
		return "", nil
	}
	rec, err := readRecord(value)
	if err != nil {
		return "", err
	}
	return rec.Container, nil
}

// readRecord decodes a record; its error wraps ErrBadRecord.
func readRecord(value string) (record, error) {
	var rec record
	if err := json.Unmarshal([]byte(value), &rec); err != nil || rec.Version != 1 || rec.Container == "" {
		msg := "not a record this library wrote"
		if err != nil {
			msg = err.Error()
		}
		ap := field.NewPath("metadata", "annotations").Key(StatusAnnotation)
		return record{}, fmt.Errorf("%w: %w", ErrBadRecord, invalid(ap, value, ReasonRecordMismatch, msg))
	}
	return rec, nil
}

func nilIfEmptyMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// check refuses positions no attachment writes, which a hand-edited record
// may hold.
func (rec *record) check(ap *field.Path) problems {
	var errs problems
	if r := rec.Replaced; r != nil {
		if r.Index < 0 || (r.List != "initContainers" && r.List != "containers") {
			errs = append(errs, invalid(ap.Child("replaced"), fmt.Sprintf("%s[%d]", r.List, r.Index), ReasonRecordMismatch, "not a container position"))
		}
		for _, v := range r.Volumes {
			if v.Index < 0 {
				errs = append(errs, invalid(ap.Child("replaced", "volumes"), v.Index, ReasonRecordMismatch, "must not be negative"))
			}
		}
		for _, m := range r.Mounts {
			if m.Index < 0 {
				errs = append(errs, invalid(ap.Child("replaced", "mounts"), m.Index, ReasonRecordMismatch, "must not be negative"))
			}
		}
	}
	return errs
}

// undo reverts the attachment the record describes, in reverse order.
func (rec *record) undo(spec *corev1.PodSpec) problems {
	var errs problems
	rp := field.NewPath("metadata", "annotations").Key(StatusAnnotation)
	notFound := func(p *field.Path, v any) *Problem { return problemOf(p, field.NotFound(p, v), ReasonRecordMismatch) }
	// The proxy container.
	removed := false
	for _, l := range []*[]corev1.Container{&spec.InitContainers, &spec.Containers} {
		if i := containerIndex(*l, rec.Container); i >= 0 {
			*l = slices.Delete(*l, i, i+1)
			removed = true
		}
	}
	if !removed {
		errs = append(errs, notFound(rp.Child("container"), rec.Container))
	}
	// What Attach added to the other containers.
	for _, e := range rec.Env {
		c := findContainer(spec, e.Container)
		if c == nil {
			errs = append(errs, notFound(rp.Child("env"), e.Container+": "+e.Name))
			continue
		}
		j := envIndex(c.Env, e.Name)
		if j < 0 || c.Env[j].Value != e.Value || c.Env[j].ValueFrom != nil {
			errs = append(errs, invalid(rp.Child("env"), e.Container+": "+e.Name, ReasonRecordMismatch, "the container no longer sets it to "+e.Value))
			continue
		}
		c.Env = nilIfEmpty(slices.Delete(c.Env, j, j+1))
	}
	for k := len(rec.Mounts) - 1; k >= 0; k-- {
		m := rec.Mounts[k]
		c := findContainer(spec, m.Container)
		if c == nil {
			errs = append(errs, notFound(rp.Child("mounts"), m.Container+": "+m.Mount.MountPath))
			continue
		}
		j := slices.IndexFunc(c.VolumeMounts, func(cm corev1.VolumeMount) bool { return sameMount(cm, m.Mount) })
		if j < 0 {
			errs = append(errs, notFound(rp.Child("mounts"), m.Container+": "+m.Mount.MountPath))
			continue
		}
		c.VolumeMounts = nilIfEmpty(slices.Delete(c.VolumeMounts, j, j+1))
	}
	for _, name := range rec.Volumes {
		j := volumeIndex(spec.Volumes, name)
		if j < 0 {
			errs = append(errs, notFound(rp.Child("volumes"), name))
			continue
		}
		spec.Volumes = nilIfEmpty(slices.Delete(spec.Volumes, j, j+1))
	}
	// What Attach replaced, back where it stood.
	if r := rec.Replaced; r != nil {
		for _, v := range r.Volumes {
			spec.Volumes = slices.Insert(spec.Volumes, min(v.Index, len(spec.Volumes)), v.Volume)
		}
		for _, m := range r.Mounts {
			c := findContainer(spec, m.Container)
			if c == nil {
				errs = append(errs, notFound(rp.Child("replaced", "mounts"), m.Container))
				continue
			}
			c.VolumeMounts = slices.Insert(c.VolumeMounts, min(m.Index, len(c.VolumeMounts)), m.Mount)
		}
		l := &spec.Containers
		if r.List == "initContainers" {
			l = &spec.InitContainers
		}
		*l = slices.Insert(*l, min(r.Index, len(*l)), r.Container)
	}
	spec.InitContainers, spec.Containers = nilIfEmpty(spec.InitContainers), nilIfEmpty(spec.Containers)
	return errs
}
