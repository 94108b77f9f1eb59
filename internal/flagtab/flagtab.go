// Package flagtab hands the command the proxy flags that the library's
// options set: what each means to the proxy, and the option that sets it
// from a value in the proxy's syntax, without the library's flag table
// becoming part of its API. The command keeps its own names, help and
// sections for them. Package cloudsqlproxy fills it in its init, the way
// grpc-go's internal package carries hooks between its packages.
package flagtab

import "k8s.io/apimachinery/pkg/util/validation/field"

// Kind is how a flag's value is written.
type Kind int

// The kinds of value.
const (
	Switch   Kind = iota // on when given; --name=false asks for nothing
	Text                 // any string
	Count                // a decimal integer
	Duration             // a Go duration with a unit, such as 30s
	Port                 // a port number
)

// Flag is a proxy flag that an option of the library sets.
type Flag struct {
	Proxy  string      // the proxy's flag, without dashes
	Option *field.Path // the option's path in the library's problems
	Kind   Kind
	Values []string // the values the proxy accepts, when it names them
}

var (
	// Flags are the proxy flags that an option sets, in the order the
	// library renders them.
	Flags []Flag
	// Option returns the cloudsqlproxy.Option that sets the proxy flag
	// proxy to value, given in the proxy's syntax. It is typed any because
	// this package cannot name the library's types.
	Option func(proxy, value string) (any, error)
)
