package cloudsqlproxy

import (
	"errors"

	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Reason says why a value is refused, in a word a caller can switch on: the
// wording of a [Problem]'s Detail may improve from one release to the
// next, its Reason does not.
type Reason string

// The reasons of the problems that [New], [FromContainer], [Proxy.Attach],
// [Proxy.AttachTo], [Proxy.Detach] and [DetachFrom] report.
const (
	// ReasonInvalid: the value is not of the form the proxy or Kubernetes
	// accepts (a port number, an IP address, a label, an email...).
	ReasonInvalid Reason = "Invalid"
	// ReasonOutOfRange: a number, size or duration outside what is allowed.
	ReasonOutOfRange Reason = "OutOfRange"
	// ReasonNotSupported: the value is none of the ones accepted.
	ReasonNotSupported Reason = "NotSupported"
	// ReasonRequired: a value is missing.
	ReasonRequired Reason = "Required"
	// ReasonDuplicate: the value is given twice.
	ReasonDuplicate Reason = "Duplicate"
	// ReasonNotFound: the value refers to something that is not there,
	// such as an instance the proxy does not connect to.
	ReasonNotFound Reason = "NotFound"
	// ReasonConflict: the value cannot be combined with another setting,
	// which Other names when it is an option.
	ReasonConflict Reason = "Conflict"
	// ReasonNeeds: the value means nothing without the option Other.
	ReasonNeeds Reason = "Needs"
	// ReasonNeedsVersion: the image's proxy predates the value; Version
	// is the release that introduced it.
	ReasonNeedsVersion Reason = "NeedsVersion"
	// ReasonPortInUse: a port the proxy uses is also used by something else,
	// in the configuration or in the pod.
	ReasonPortInUse Reason = "PortInUse"
	// ReasonNameInUse: the pod already has a container, volume or port
	// name the proxy needs, for something else.
	ReasonNameInUse Reason = "NameInUse"
	// ReasonInUse: a container already uses an environment variable or
	// path the proxy would set, differently.
	ReasonInUse Reason = "InUse"
	// ReasonAlreadyPresent: a pod without the proxy already has something
	// the proxy adds, which taking the proxy out would then remove.
	ReasonAlreadyPresent Reason = "AlreadyPresent"
	// ReasonSecondProxy: the pod already runs another Cloud SQL proxy.
	ReasonSecondProxy Reason = "SecondProxy"
	// ReasonPodUnsupported: the pod cannot run the proxy (host network,
	// Windows, a restart policy a Job-mode proxy cannot live with).
	ReasonPodUnsupported Reason = "PodUnsupported"
	// ReasonNoRoom: the pod's own resources leave no room for the proxy's.
	ReasonNoRoom Reason = "NoRoom"
	// ReasonNotCarried: a part of an existing proxy container that
	// FromContainer cannot read or carry over.
	ReasonNotCarried Reason = "NotCarried"
	// ReasonRecordMismatch: the injection record cannot be read, or no
	// longer matches the pod.
	ReasonRecordMismatch Reason = "RecordMismatch"
)

// Problem is one thing wrong in what a function of the package was given.
// The errors of [New], [FromContainer], [Proxy.Attach], [Proxy.AttachTo],
// [Proxy.Detach] and [DetachFrom] list them (get them with [Problems]),
// still match their sentinels with [errors.Is], and unwrap each problem to
// the [field.Error] the package reported before problems existed.
//
// A problem carries the options and versions it involves as data, so that
// a caller that offers the options under other names (a command's flags, a
// custom resource's fields) can word it with those: see [Problem.Message].
type Problem struct {
	// Field is what is wrong: an option's path for New (WithPort,
	// WithInstance[1][port], WithTelemetry.Prefix; the first instance is
	// "instance"), a path from the pod spec for Attach and Detach, from
	// "container" for FromContainer, and from the object for the record
	// of AttachTo and DetachFrom (metadata.annotations[...]).
	Field    *field.Path
	Type     field.ErrorType
	BadValue any
	Reason   Reason
	// Detail says what is wrong, in words that name no Go identifier:
	// Other stands for the option the problem involves.
	Detail string
	// Other is the option the problem involves besides Field, such as
	// WithUnixSocket for a port that cannot be combined with it; nil when
	// there is none.
	Other *field.Path
	// Version is the proxy release the value needs, with ReasonNeedsVersion.
	Version string
}

// Message is the problem's text after its value, naming Other with name
// (nil: its path, as Error does, such as "WithUnixSocket").
func (p *Problem) Message(name func(option *field.Path) string) string {
	if p.Other == nil {
		return p.Detail
	}
	other := p.Other.String()
	if name != nil {
		other = name(p.Other)
	}
	lead := ""
	switch p.Reason {
	case ReasonConflict:
		lead = "cannot be combined with " + other
	case ReasonNeeds:
		lead = "needs " + other
	default:
		return p.Detail + " (" + other + ")"
	}
	if p.Detail == "" {
		return lead
	}
	return lead + ": " + p.Detail
}

// FieldError is the problem as a field.Error, with Other named by name as
// in [Problem.Message].
func (p *Problem) FieldError(name func(option *field.Path) string) *field.Error {
	return &field.Error{Type: p.Type, Field: p.Field.String(), BadValue: p.BadValue, Detail: p.Message(name)}
}

// Error is the text of the problem's field.Error, naming options as Go
// code does.
func (p *Problem) Error() string { return p.FieldError(nil).Error() }

// Unwrap gives the problem as a field.Error, for callers that read those.
func (p *Problem) Unwrap() error { return p.FieldError(nil) }

// Problems returns the problems an error of the package lists, in order;
// nil for an error without any (such as [ErrNilPodSpec]).
func Problems(err error) []Problem {
	var agg utilerrors.Aggregate
	if errors.As(err, &agg) {
		var out []Problem
		for _, e := range agg.Errors() {
			var p *Problem
			if errors.As(e, &p) {
				out = append(out, *p)
			}
		}
		return out
	}
	var p *Problem
	if errors.As(err, &p) {
		return []Problem{*p}
	}
	return nil
}

// problems is the package's list of problems, in the order they are found.
type problems []*Problem

// aggregate is the list as the error that the package's errors wrap.
func (ps problems) aggregate() utilerrors.Aggregate {
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = p
	}
	return utilerrors.NewAggregate(errs)
}

// invalid is the problem of an invalid value.
func invalid(path *field.Path, value any, reason Reason, detail string) *Problem {
	return &Problem{Field: path, Type: field.ErrorTypeInvalid, BadValue: value, Reason: reason, Detail: detail}
}

// involving names the option a problem involves besides its field.
func (p *Problem) involving(other *field.Path) *Problem {
	p.Other = other
	return p
}

// problemOf turns a field.Error built by apimachinery's constructors
// (which word NotSupported, TooLong and the like) into a problem at path.
func problemOf(path *field.Path, fe *field.Error, reason Reason) *Problem {
	return &Problem{Field: path, Type: fe.Type, BadValue: fe.BadValue, Reason: reason, Detail: fe.Detail}
}

// problemsOf turns the field errors of the package's internal readers into
// problems. Their paths are text by then; a one-element path renders each
// exactly as it was.
func problemsOf(errs field.ErrorList, reason Reason) problems {
	out := make(problems, len(errs))
	for i, fe := range errs {
		out[i] = problemOf(field.NewPath(fe.Field), fe, reason)
	}
	return out
}

// invalidAll is one problem per message of apimachinery's validation
// functions (IsDNS1123Label and the like).
func invalidAll(path *field.Path, value any, reason Reason, msgs []string) problems {
	var out problems
	for _, m := range msgs {
		out = append(out, invalid(path, value, reason, m))
	}
	return out
}
