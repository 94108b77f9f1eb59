package cloudsqlproxy

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// instance is one parsed connection name with its query parameters.
type instance struct {
	raw       string // as configured
	name      string // the connection name, without the query
	port      int32  // assigned by resolve unless ?port= gave it
	queryPort bool   // the port came from ?port=
	dns       bool   // name is a DNS name, not a connection name
	privateIP *bool
	psc       *bool
	autoIAM   *bool
	errs      problems // what is wrong with raw; nothing else is set then
}

// instanceKeys are the per-instance query parameters New accepts.
var instanceKeys = []string{"port", "private-ip", "psc", "auto-iam-authn"}

// instancePath names the i-th connection name: New's argument, then the
// WithInstance options. Paths are built only for errors, since building
// them up front was a good part of New's allocations.
func instancePath(i int) *field.Path {
	if i == 0 {
		return field.NewPath("instance")
	}
	return field.NewPath("WithInstance").Index(i - 1)
}

// parseInstance reads the i-th configured instance. Only the syntax is
// checked here; how instances combine with other settings is validate.go's.
func parseInstance(i int, raw string) instance {
	p := func() *field.Path { return instancePath(i) }
	name, query, hasQuery := strings.Cut(raw, "?")
	in := instance{raw: raw, name: name}
	if name == "" {
		in.errs = append(in.errs, problemOf(p(), field.Required(p(), "a Cloud SQL connection name project:region:instance or a DNS name"), ReasonRequired))
		return in
	}
	var nameErrs problems
	nameErrs, in.dns = instanceNameErrors(p, raw, name)
	in.errs = append(in.errs, nameErrs...)
	if !hasQuery {
		return in
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		in.errs = append(in.errs, invalid(p(), raw, ReasonInvalid, "query parameters cannot be parsed: "+err.Error()))
		return in
	}
	for _, key := range sortedKeys(q) {
		vals := q[key]
		kp := func() *field.Path { return p().Key(key) }
		if len(vals) != 1 {
			in.errs = append(in.errs, invalid(kp(), strings.Join(vals, ","), ReasonDuplicate, "must be given once"))
			continue
		}
		val := vals[0]
		switch key {
		case "port":
			n, err := strconv.ParseInt(val, 10, 32)
			if err != nil || n < 1 || n > 65535 {
				in.errs = append(in.errs, invalid(kp(), val, ReasonOutOfRange, "must be a port number between 1 and 65535"))
				continue
			}
			in.port, in.queryPort = int32(n), true
		case "private-ip", "psc", "auto-iam-authn":
			b, isBool := parseBool(val)
			if !isBool {
				in.errs = append(in.errs, invalid(kp(), val, ReasonInvalid, "must be true or false"))
				continue
			}
			switch key {
			case "private-ip":
				in.privateIP = &b
			case "psc":
				in.psc = &b
			default:
				in.autoIAM = &b
			}
		default:
			in.errs = append(in.errs, problemOf(kp(), field.NotSupported(kp(), key, instanceKeys), ReasonNotSupported))
		}
	}
	if in.privateIP != nil && in.psc != nil {
		in.errs = append(in.errs, invalid(p(), raw, ReasonConflict, "private-ip and psc cannot both be given"))
	}
	return in
}

// parseBool accepts what the proxy's own query parser accepts.
func parseBool(s string) (value, ok bool) {
	switch strings.ToLower(s) {
	case "true", "t", "":
		return true, true
	case "false", "f":
		return false, true
	}
	return false, false
}

// isConnName reports whether s is a Cloud SQL connection name: an
// optionally domain-scoped project ID, a region and an instance ID. It
// accepts what
//
//	^(?:[a-z0-9][a-z0-9.-]*\.[a-z]{2,}:)?[a-z][a-z0-9-]{4,28}[a-z0-9]:[a-z]+(?:-[a-z]+)*[0-9]+:[a-z](?:[a-z0-9-]{0,96}[a-z0-9])?$
//
// matches, written out because New checks every instance and the regexp
// (run by the backtracker, with its bounded repeats) took a quarter of New.
func isConnName(s string) bool {
	var domain string
	switch strings.Count(s, ":") {
	case 3:
		domain, s, _ = strings.Cut(s, ":")
		d := strings.LastIndexByte(domain, '.')
		if d < 1 || len(domain)-d-1 < 2 || !allIn(domain[d+1:], cLower) || !allIn(domain[:1], cLower|cDigit) || !allIn(domain[1:d], cLower|cDigit|cDot|cHyphen) {
			return false
		}
	case 2:
	default:
		return false
	}
	project, s, _ := strings.Cut(s, ":")
	region, inst, _ := strings.Cut(s, ":")
	// Project: 6 to 30 characters, a letter first, no hyphen last.
	if len(project) < 6 || len(project) > 30 || !allIn(project[:1], cLower) ||
		!allIn(project[1:len(project)-1], cLower|cDigit|cHyphen) || !allIn(project[len(project)-1:], cLower|cDigit) {
		return false
	}
	// Region: words of letters joined by single hyphens, then digits.
	i := 0
	for {
		j := i
		for j < len(region) && charClass[region[j]] == cLower {
			j++
		}
		if j == i {
			return false
		}
		i = j
		if i < len(region) && region[i] == '-' {
			i++
			continue
		}
		break
	}
	if i == len(region) || !allIn(region[i:], cDigit) {
		return false
	}
	// Instance: 1 to 98 characters, a letter first, no hyphen last.
	return len(inst) >= 1 && len(inst) <= 98 && allIn(inst[:1], cLower) &&
		(len(inst) == 1 || allIn(inst[1:len(inst)-1], cLower|cDigit|cHyphen) && allIn(inst[len(inst)-1:], cLower|cDigit))
}

// Character classes of connection names.
const (
	cLower uint8 = 1 << iota
	cDigit
	cDot
	cHyphen
)

var charClass = func() (t [256]uint8) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = cLower
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = cDigit
	}
	t['.'], t['-'] = cDot, cHyphen
	return t
}()

// allIn reports whether every byte of s is in one of the classes of mask.
func allIn(s string, mask uint8) bool {
	for i := 0; i < len(s); i++ {
		if charClass[s[i]]&mask == 0 {
			return false
		}
	}
	return true
}

// arg renders an instance with its query parameters in a fixed order.
func (in instance) arg() string {
	var q []string
	if in.port != 0 {
		q = append(q, "port="+strconv.Itoa(int(in.port)))
	}
	for _, b := range []struct {
		key string
		val *bool
	}{{"private-ip", in.privateIP}, {"psc", in.psc}, {"auto-iam-authn", in.autoIAM}} {
		if b.val != nil {
			q = append(q, b.key+"="+strconv.FormatBool(*b.val))
		}
	}
	if len(q) == 0 {
		return in.name
	}
	return in.name + "?" + strings.Join(q, "&")
}

// connNameProblem says which rule of a connection name s breaks, for the
// error; isConnName is the check itself, kept lean for New's every call.
func connNameProblem(s string) string {
	parts := strings.Split(s, ":")
	switch len(parts) {
	case 3:
	case 4:
		if d := parts[0]; !isConnName(d + ":example-project:us-central1:db") {
			return fmt.Sprintf("the domain %q of a domain-scoped project must be a lower case domain such as example.com", d)
		}
		parts = parts[1:]
	default:
		return fmt.Sprintf("it has %d parts; a connection name has three, project:region:instance (four for a domain-scoped project)", len(parts))
	}
	project, region, inst := parts[0], parts[1], parts[2]
	if why := idProblem(project, 6, 30); why != "" {
		return fmt.Sprintf("the project ID %q %s", project, why)
	}
	if !isConnName("example-project:" + region + ":db") {
		return fmt.Sprintf("the region %q is not a region such as us-central1 or europe-north1 (lower case words joined by hyphens, then digits)", region)
	}
	if why := idProblem(inst, 1, 98); why != "" {
		return fmt.Sprintf("the instance name %q %s", inst, why)
	}
	return "it is not one" // unreachable while the rules above are isConnName's
}

// idProblem says which rule of a project ID or instance name s breaks:
// min to max characters, lower case letters, digits and hyphens, a letter
// first, no hyphen last.
func idProblem(s string, min, max int) string {
	switch {
	case len(s) < min || len(s) > max:
		return fmt.Sprintf("has %d characters; it must have %d to %d", len(s), min, max)
	case !allIn(s, cLower|cDigit|cHyphen):
		return "may contain only lower case letters, digits and hyphens"
	case !allIn(s[:1], cLower):
		return "must start with a lower case letter"
	case strings.HasSuffix(s, "-"):
		return "must not end with a hyphen"
	}
	return ""
}
