package cloudsqlproxy

import (
	"fmt"
	"net"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// sinceDNSName is the first proxy that resolves an instance argument given
// as a DNS name (its changelog: "enable Proxy to be started with DNS names").
var sinceDNSName = version{2, 15, 0}

// maxDNSName is the longest name Go's resolver, which the proxy uses, looks
// up: 253 characters, or 254 with a trailing dot. A longer one fails as "no
// such host" without a query.
const maxDNSName = 253

// instanceNameErrors says what is wrong with name (an instance argument
// without its query) for the proxy, and whether it is a DNS name. The
// proxy itself checks nothing at startup: a name it cannot use gets a
// listener, and every connection to it fails. So the checks here are the
// ones the proxy's connector (cloudsqlconn) makes when a client connects.
func instanceNameErrors(p func() *field.Path, raw, name string) (errs problems, dns bool) {
	if isConnName(name) {
		return nil, false
	}
	// A DNS name has no colon, so a name with one was meant as a connection
	// name, and is told so.
	if strings.Contains(name, ":") {
		return problems{invalid(p(), raw, ReasonInvalid, "must be a Cloud SQL connection name project:region:instance: "+connNameProblem(name))}, false
	}
	if why := dnsNameProblem(name); why != "" {
		return problems{invalid(p(), raw, ReasonInvalid, "must be a Cloud SQL connection name project:region:instance or a DNS name whose TXT record holds one: "+why)}, false
	}
	return nil, true
}

// dnsNameProblem says why s is not a DNS name the proxy can resolve to an
// instance, or returns "" when it is one. The proxy's connector accepts what
//
//	^(?:[_a-z0-9](?:[_a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?)?$
//
// matches (cloudsqlconn's instance.IsValidDomain), and its resolver then
// also needs a name of at most 253 characters (254 with a trailing dot)
// that is not all digits. The connector does not fold case: a name with an
// upper case letter is refused, not looked up.
func dnsNameProblem(s string) string {
	upper := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z':
			upper = true
		case c != '_' && charClass[c] == 0:
			return "it may contain only lower case letters, digits, hyphens, underscores and dots"
		}
	}
	if upper {
		return "it must be lower case: the proxy refuses upper case letters in a DNS name"
	}
	if net.ParseIP(s) != nil {
		return "an IP address is neither"
	}
	body := strings.TrimSuffix(s, ".")
	if len(body) > maxDNSName {
		return fmt.Sprintf("it is %d characters long; DNS names have at most %d", len(body), maxDNSName)
	}
	if body == "" {
		return "it has no label"
	}
	fqdn := len(body) < len(s) // with a trailing dot the last label may be any label
	if !fqdn && !strings.Contains(body, ".") {
		return "a single label is neither; a DNS name needs a dot (add a trailing one for a top-level name)"
	}
	numeric := true
	for rest := body; ; {
		label, more, found := strings.Cut(rest, ".")
		last := !found
		if why := labelProblem(label, last && !fqdn); why != "" {
			return why
		}
		for i := 0; i < len(label); i++ {
			numeric = numeric && charClass[label[i]] == cDigit
		}
		if last {
			break
		}
		rest = more
	}
	if numeric {
		return "an all-numeric name is not looked up"
	}
	return ""
}

// labelProblem checks one label of lower case letters, digits, hyphens and
// underscores; top is the last label of a name without a trailing dot,
// which the connector wants to start with a letter and to hold no
// underscore.
func labelProblem(l string, top bool) string {
	switch {
	case l == "":
		return "it has an empty label"
	case len(l) > 63:
		return fmt.Sprintf("label %q is %d characters long; DNS labels have at most 63", l, len(l))
	case top && charClass[l[0]] != cLower:
		return fmt.Sprintf("the last label %q must start with a letter (add a trailing dot for a name that does not)", l)
	case top && strings.Contains(l, "_"):
		return fmt.Sprintf("the last label %q must not contain an underscore", l)
	case l[0] == '-':
		return fmt.Sprintf("label %q must not start with a hyphen", l)
	case len(l) > 1 && (l[len(l)-1] == '-' || l[len(l)-1] == '_'):
		return fmt.Sprintf("label %q must end with a letter or digit", l)
	}
	return ""
}

// instanceKey is what makes two instance names the same instance: a DNS
// name with and without its trailing dot is one name.
func instanceKey(name string) string {
	if strings.Contains(name, ":") {
		return name
	}
	return strings.TrimSuffix(name, ".")
}
