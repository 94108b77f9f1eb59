// Package flagtab hands the library's flag table to the command, so that
// the command registers, documents and maps errors of every proxy flag from
// the same entries the library renders and parses back, without the table
// becoming part of the library's API. Package cloudsqlproxy fills it in its
// init, the way grpc-go's internal package carries hooks between its
// packages.
package flagtab

import corev1 "k8s.io/api/core/v1"

// Kind is how the command reads a flag's value.
type Kind int

// The kinds of value.
const (
	Switch   Kind = iota // on when given; --name=false asks for nothing
	Text                 // any string
	Count                // a decimal integer
	Duration             // a Go duration with a unit, such as 30s
	Port                 // a port number
)

// Flag is one proxy setting that the command offers as a flag.
type Flag struct {
	Name    string // the command's flag, without dashes
	Proxy   string // the proxy's own flag
	Option  string // the option's field path in the library's errors
	Arg     string // the value's name in the help; empty for a switch
	Usage   string // help text, one line per "\n"
	Section string // the help section
	Kind    Kind
	// Option returns the cloudsqlproxy.Option that sets the flag to value,
	// given in the proxy's own syntax.
	New func(value string) (any, error)
}

// Timing is a probe's default timing.
type Timing struct{ Delay, Period, Timeout, Failure int32 }

var (
	// Flags are the table's entries that the command offers, in the
	// table's order.
	Flags []Flag
	// Resources are the proxy container's default requirements.
	Resources corev1.ResourceRequirements
	// Startup, Liveness and Readiness are the probes' default timings.
	Startup, Liveness, Readiness Timing
)
