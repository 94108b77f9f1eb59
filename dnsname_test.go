package cloudsqlproxy

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// dnsNames are the instance names given as DNS names, with the reason New
// gives for refusing one ("" when it takes it). What the proxy does with
// names of each kind is checked against the real binary in
// e2e/dnsname_test.go (TestDNSNameVerdictsMatchTheProxy).
var dnsNames = []struct {
	name, why string
}{
	{"prod-db.mycompany.example.com", ""},
	{"db.example.com.", ""},               // an absolute name
	{"prod.", ""},                         // one label is a name when absolute
	{"a.b", ""},                           // one-letter labels
	{"_sql.db.example.com", ""},           // service-style labels
	{"a_b.example.com", ""},               // underscores inside a label
	{"_.example.com", ""},                 // a label of one underscore
	{"1db.example.com", ""},               // a digit first, but not in the last label
	{"db.example.c0m", ""},                // digits in the last label, after a letter
	{"db.123.", ""},                       // a numeric last label, with the trailing dot
	{"xn--bcher-kva.example", ""},         // punycode
	{"x.y.us-central1.sql.goog", ""},      // Cloud SQL's own DNS name form
	{label(63) + ".example.com", ""},      // the longest label
	{longName(253), ""},                   // the longest name
	{longName(253) + ".", ""},             // and its absolute form
	{"prod", "a single label is neither"}, // not even a search-domain lookup: the connector refuses it
	{"Prod-DB.example.com", "must be lower case"},
	{"db.EXAMPLE.com", "must be lower case"},
	{"10.0.0.1", "an IP address is neither"},
	{"10.0.0.1.", "an all-numeric name is not looked up"},
	{"db.example.123", `the last label "123" must start with a letter`},
	{"db.example._com", `the last label "_com" must start with a letter`},
	{"db.example.co_m", `the last label "co_m" must not contain an underscore`},
	{"db.-example.com", `label "-example" must not start with a hyphen`},
	{"db.example-.com", `label "example-" must end with a letter or digit`},
	{"db_.example.com", `label "db_" must end with a letter or digit`},
	{"db.example.com-", `label "com-" must end with a letter or digit`},
	{"db..example.com", "it has an empty label"},
	{".db.example.com", "it has an empty label"},
	{"db.example.com..", "it has an empty label"},
	{".", "it has no label"},
	{label(64) + ".example.com", "DNS labels have at most 63"},
	{longName(254), "DNS names have at most 253"},
	{longName(254) + ".", "DNS names have at most 253"},
	{"db.exa mple.com", "may contain only lower case letters"},
	{"db.exämple.com", "may contain only lower case letters"},
	{"db.example.com/x", "may contain only lower case letters"},
	{"db$(HOME).example.com", "may contain only lower case letters"},
}

// label is a DNS label of n letters.
func label(n int) string { return strings.Repeat("a", n) }

// longName is a DNS name of n characters (n not a multiple of 64, where a
// dot would come last): labels of 63 letters.
func longName(n int) string { return strings.Repeat(label(63)+".", n/64+1)[:n] }

func TestLongName(t *testing.T) {
	for _, n := range []int{253, 254} {
		if s := longName(n); len(s) != n || strings.HasSuffix(s, ".") {
			t.Errorf("longName(%d) = %q (%d characters)", n, s, len(s))
		}
	}
}

func TestDNSNameInstances(t *testing.T) {
	for _, tt := range dnsNames {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.name + "?port=6000")
			if tt.why == "" {
				if err != nil {
					t.Fatalf("New(%q): %v", tt.name, err)
				}
				if diff := cmp.Diff(withBase("--address=127.0.0.1", tt.name+"?port=6000"), p.Container().Args); diff != "" {
					t.Errorf("args (-want +got):\n%s", diff)
				}
				return
			}
			if p != nil || !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("New(%q) = %v, %v; want an ErrInvalidConfig", tt.name, p, err)
			}
			if diff := cmp.Diff([]string{"instance: " + string(field.ErrorTypeInvalid)}, fieldErrs(t, err)); diff != "" {
				t.Errorf("field errors (-want +got):\n%s", diff)
			}
			for _, m := range []string{tt.why, "connection name", "DNS name", tt.name} {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error does not say %q: %v", m, err)
				}
			}
		})
	}
}

func TestDNSNameWithOtherOptions(t *testing.T) {
	const dns, dns2 = "prod-db.example.com", "replica.example.com."
	tests := []struct {
		name string
		inst string
		opts []Option
		want []string
	}{
		{"query parameters", dns + "?port=7000&private-ip=true&auto-iam-authn", nil,
			withBase("--address=127.0.0.1", dns+"?port=7000&private-ip=true&auto-iam-authn=true")},
		{"psc parameter", dns + "?psc=true", nil, withBase("--address=127.0.0.1", dns+"?port=5432&psc=true")},
		{"ports count up across both kinds of name", dns, []Option{WithPort(6000), WithInstance(inst), WithInstance(dns2)},
			withBase("--address=127.0.0.1", dns+"?port=6000", inst+"?port=6001", dns2+"?port=6002")},
		{"unix socket", dns, []Option{WithUnixSocket("/cloudsql"), WithInstance(dns2)}, withBase("--unix-socket=/cloudsql", dns, dns2)},
		{"proxy 2.15", dns, []Option{WithImage("gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.15.0")},
			withBase("--address=127.0.0.1", dns+"?port=5432")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.inst, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, p.Container().Args); diff != "" {
				t.Errorf("args (-want +got):\n%s", diff)
			}
		})
	}
}

// The socket the proxy makes for an instance is <dir>/<name as given>, a
// DNS name too (e2e: TestDNSNameSocket), and the application is told that.
func TestDNSNameAppEnv(t *testing.T) {
	const dns = "db.example.com."
	tests := []struct {
		name string
		opts []Option
		want []corev1.EnvVar
	}{
		{"tcp", []Option{WithInstance(inst), WithAppEnv(dns, AppEnv{Host: "DB_HOST", Port: "DB_PORT"}), WithAppEnv(inst, AppEnv{Port: "OTHER_PORT"})},
			[]corev1.EnvVar{{Name: "DB_HOST", Value: "127.0.0.1"}, {Name: "DB_PORT", Value: "5432"}, {Name: "OTHER_PORT", Value: "5433"}}},
		{"unix socket", []Option{WithUnixSocket("/cloudsql"), WithAppEnv(dns, AppEnv{Socket: "DB_SOCKET"})},
			[]corev1.EnvVar{{Name: "DB_SOCKET", Value: "/cloudsql/db.example.com."}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(dns, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, p.appEnv); diff != "" {
				t.Errorf("app env (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDNSNameRejects(t *testing.T) {
	bad := string(field.ErrorTypeInvalid)
	const dns = "prod-db.example.com"
	tests := []struct {
		name    string
		inst    string
		opts    []Option
		want    []string // field: type
		mention []string
		version bool
	}{
		{"proxy before 2.15", dns, []Option{WithImage("gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.3")},
			[]string{"instance: " + bad}, []string{dns, "2.15.0", "2.14.3"}, true},
		{"second instance before 2.15", inst, []Option{WithProxyVersion("2.14.3"), WithImage("mirror.example.com/csql:x"), WithInstance(dns + "?port=7000")},
			[]string{"WithInstance[0]: " + bad}, []string{dns, "2.15.0"}, true},
		{"duplicate", dns, []Option{WithInstance(dns + "?port=7000")},
			[]string{"WithInstance[0]: " + string(field.ErrorTypeDuplicate)}, []string{dns}, false},
		{"duplicate by trailing dot", dns, []Option{WithInstance(dns + ".")},
			[]string{"WithInstance[0]: " + string(field.ErrorTypeDuplicate)}, []string{dns + "."}, false},
		{"duplicate by trailing dot, the other way round", dns + ".", []Option{WithUnixSocket("/cloudsql"), WithInstance(dns)},
			[]string{"WithInstance[0]: " + string(field.ErrorTypeDuplicate)}, nil, false},
		{"query keys as for connection names", dns + "?unix-socket=/x&port=0", nil,
			[]string{"instance[port]: " + bad, "instance[unix-socket]: " + string(field.ErrorTypeNotSupported)}, nil, false},
		{"query port with unix socket", dns + "?port=7000", []Option{WithUnixSocket("/cloudsql")}, []string{"instance[port]: " + bad}, nil, false},
		{"listener port taken", dns, []Option{WithPort(9801)}, []string{"instance[port]: " + bad}, []string{"WithHealthPort"}, false},
		{"socket path too long", longName(253), []Option{WithUnixSocket("/cloudsql")}, []string{"WithUnixSocket: " + bad}, []string{"107"}, false},
		{"app env names the instance without its dot", dns + ".", []Option{WithAppEnv(dns, AppEnv{Port: "DB_PORT"})},
			[]string{"WithAppEnv[0].instance: " + string(field.ErrorTypeNotFound)}, nil, false},
		{"a colon makes it a connection name", "db.example.com:5432", nil, []string{"instance: " + bad}, []string{"project:region:instance: it has 2 parts"}, false},
		{"bad name and bad query both reported", "Prod.example.com?prot=1", nil,
			[]string{"instance: " + bad, "instance[prot]: " + string(field.ErrorTypeNotSupported)}, []string{"lower case"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.inst, tt.opts...)
			if p != nil || !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("New = %v, %v; want an ErrInvalidConfig", p, err)
			}
			if got := errors.Is(err, ErrUnsupportedVersion); got != tt.version {
				t.Errorf("errors.Is(err, ErrUnsupportedVersion) = %v, want %v", got, tt.version)
			}
			if diff := cmp.Diff(sortedCopy(tt.want), sortedCopy(fieldErrs(t, err))); diff != "" {
				t.Errorf("field errors (-want +got):\n%s\nerror: %v", diff, err)
			}
			for _, m := range tt.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error does not mention %q: %v", m, err)
				}
			}
		})
	}
}
