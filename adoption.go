package cloudsqlproxy

import (
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Adoption is what a proxy read from an existing container takes over:
// which container, and how the proxy that [Proxy.Attach] puts in its place
// behaves differently from it. A migration should say so to whoever owns
// the pod, rather than leave it to a diff.
type Adoption struct {
	// Container is the adopted container's path in the pod spec, such as
	// "containers[1]", when [FromPod] read it; nil after [FromContainer].
	Container *field.Path
	// Name is the adopted container's name, which the proxy keeps.
	Name string
	// Notes are the changes of behaviour, in a fixed order.
	Notes []Note
}

// A Note is one change of behaviour that adopting a container brings.
type Note struct {
	// Field is the adopted container's part that changes, from the pod
	// spec after FromPod ("containers[1].readinessProbe"), from
	// "container" after FromContainer.
	Field *field.Path
	// Reason says what kind of change it is, in a word callers can
	// switch on.
	Reason NoteReason
	// Detail says what changes and why, naming no option.
	Detail string
	// Option is the option that changes it back, when one does.
	Option *field.Path
}

// String is the note as "field: detail (option)".
func (n Note) String() string {
	if n.Option == nil {
		return n.Field.String() + ": " + n.Detail
	}
	return n.Field.String() + ": " + n.Detail + " (" + n.Option.String() + ")"
}

// NoteReason is the kind of a [Note].
type NoteReason string

// The kinds of [Note].
const (
	// NoteListensBeyondPod: the proxy keeps listening on an address other
	// pods reach, as the container did.
	NoteListensBeyondPod NoteReason = "ListensBeyondPod"
	// NoteProbeReplaced: the container's probe gives way to the library's.
	NoteProbeReplaced NoteReason = "ProbeReplaced"
	// NoteProbeDropped: the container's probe has no counterpart.
	NoteProbeDropped NoteReason = "ProbeDropped"
	// NoteHookDropped: the container's lifecycle hook is not kept.
	NoteHookDropped NoteReason = "HookDropped"
	// NoteVolumeRenamed: the key file's Secret is mounted under the
	// library's volume name.
	NoteVolumeRenamed NoteReason = "VolumeRenamed"
	// NoteVolumeDropped: a volume only the container used, for nothing,
	// is not mounted any more.
	NoteVolumeDropped NoteReason = "VolumeDropped"
	// NoteWrapperDropped: the program the proxy ran under is not kept.
	NoteWrapperDropped NoteReason = "WrapperDropped"
)

// adoptFacts are what FromContainer learns while reading that the notes
// need; FromPod adds where the container was.
type adoptFacts struct {
	fld       *field.Path // the container's path, as the reader named it
	container *field.Path // its path in the pod spec, from FromPod
	address   string      // the listen address it had, "" for the default
	addressAt *field.Path
	// keyVolume is the volume its key file was read from, mounted at
	// keyDir by the mount at keyMountAt.
	keyVolume, keyDir string
	keyMountAt        *field.Path
	// unusedDir is the emptyDir volume of v1's -dir that held no socket,
	// mounted by the mount at unusedDirAt.
	unusedDir   string
	unusedDirAt *field.Path
	// wrapper is the program the proxy ran under, at wrapperAt, and
	// wrapperParts what only it used (env vars, an emptyDir mount).
	wrapper      string
	wrapperAt    *field.Path
	wrapperParts []string
}

// Adoption returns what the proxy takes over, or nil for a proxy not read
// from an existing container by [FromContainer] or [FromPod].
func (p *Proxy) Adoption() *Adoption {
	if p.adopted == nil || p.adoptFacts == nil {
		return nil
	}
	f, old := p.adoptFacts, p.adopted
	a := &Adoption{Container: f.container, Name: old.Name}
	if f.address != "" && f.address == p.listenAddress && !loopback(f.address) {
		a.Notes = append(a.Notes, Note{Field: f.addressAt, Reason: NoteListensBeyondPod, Option: field.NewPath("WithListenAddress"), Detail: fmt.Sprintf(
			"kept: the proxy still listens on %s, so anything that reaches the pod's IP gets a database connection with the pod's identity; if only this pod connects, listen on 127.0.0.1", f.address)})
	}
	if f.wrapper != "" {
		with := ""
		if len(f.wrapperParts) > 0 {
			with = " with " + strings.Join(f.wrapperParts, ", ")
		}
		a.Notes = append(a.Notes, Note{Field: f.wrapperAt, Reason: NoteWrapperDropped, Detail: fmt.Sprintf(
			"dropped: the proxy ran under %q, which the library's container does not keep%s: the kubelet stops a native sidecar once the application's containers exit, and a Job-mode proxy stops by its quit URL or timeout", f.wrapper, with)})
	}
	ours := p.Container()
	a.Notes = append(a.Notes, probeNotes(f.fld, old, &ours)...)
	a.Notes = append(a.Notes, hookNotes(f.fld, old, &ours)...)
	a.Notes = append(a.Notes, p.volumeNotes(f)...)
	if f.unusedDir != "" {
		a.Notes = append(a.Notes, Note{Field: f.unusedDirAt, Reason: NoteVolumeDropped, Detail: fmt.Sprintf(
			"dropped: v1's -dir held no socket, every instance being TCP; the emptyDir volume %q goes too unless another container mounts it", f.unusedDir)})
	}
	return a
}

func loopback(address string) bool {
	ip, err := netip.ParseAddr(address)
	return err == nil && ip.IsLoopback()
}

// probeNotes compares the adopted container's probes with the proxy's
// container c.
func probeNotes(fld *field.Path, old, c *corev1.Container) []Note {
	var notes []Note
	for _, pr := range []struct {
		name      string
		old, ours *corev1.Probe
		path      string
	}{
		{"startupProbe", old.StartupProbe, c.StartupProbe, "/startup"},
		{"livenessProbe", old.LivenessProbe, c.LivenessProbe, "/liveness"},
		{"readinessProbe", old.ReadinessProbe, c.ReadinessProbe, "/readiness"},
	} {
		switch {
		case pr.old == nil || equality.Semantic.DeepEqual(pr.old, pr.ours):
		case pr.ours == nil:
			notes = append(notes, Note{Field: fld.Child(pr.name), Reason: NoteProbeDropped, Option: field.NewPath("WithReadinessProbe"),
				Detail: "dropped: a sidecar's readiness decides the whole pod's, and the proxy's flips at its connection limit; the library adds its own on /readiness when asked"})
		default:
			notes = append(notes, Note{Field: fld.Child(pr.name), Reason: NoteProbeReplaced, Detail: fmt.Sprintf(
				"replaced by the library's: %s of the proxy's health server on port %s, with the library's timings unless set", pr.path, HealthPortName)})
		}
	}
	return notes
}

// hookNotes reports the adopted container's lifecycle hooks that the
// proxy's container c does not have.
func hookNotes(fld *field.Path, old, c *corev1.Container) []Note {
	if old.Lifecycle == nil {
		return nil
	}
	var notes []Note
	if old.Lifecycle.PreStop != nil && (c.Lifecycle == nil || !equality.Semantic.DeepEqual(old.Lifecycle.PreStop, c.Lifecycle.PreStop)) {
		detail := "dropped: the proxy stops on SIGTERM, after the application's containers have exited when it is a native sidecar, and exits 0; a hook that stopped it earlier would cut the application's connections; to keep it serving for a while after SIGTERM, delay its shutdown"
		notes = append(notes, Note{Field: fld.Child("lifecycle", "preStop"), Reason: NoteHookDropped, Option: field.NewPath("WithMinSigtermDelay"), Detail: detail})
	}
	if old.Lifecycle.PostStart != nil && (c.Lifecycle == nil || !equality.Semantic.DeepEqual(old.Lifecycle.PostStart, c.Lifecycle.PostStart)) {
		notes = append(notes, Note{Field: fld.Child("lifecycle", "postStart"), Reason: NoteHookDropped,
			Detail: "dropped: the library gates the application on the proxy itself (a startup probe, or its own postStart wait hook outside native mode)"})
	}
	return notes
}

// volumeNotes reports the key file's Secret mounted under the library's
// volume name and directory rather than the container's.
func (p *Proxy) volumeNotes(f *adoptFacts) []Note {
	if f.keyVolume == "" {
		return nil
	}
	for _, v := range p.volumes {
		if v.Secret == nil || (v.Name == f.keyVolume && f.keyDir == credentialsDir) {
			continue
		}
		return []Note{{Field: f.keyMountAt, Reason: NoteVolumeRenamed, Detail: fmt.Sprintf(
			"the Secret %q is mounted as volume %q at %s instead of %q at %s, which only the proxy used", v.Secret.SecretName, v.Name, credentialsDir, f.keyVolume, f.keyDir)}}
	}
	return nil
}
