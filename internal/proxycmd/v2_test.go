package proxycmd

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/podspec/cloudsqlproxy/internal/proxysrc"
)

// splitV2 is SplitV2 with argv and env at the roots "argv" and "env".
func splitV2(argv []string, env []corev1.EnvVar) (flags, instances []Setting, errs field.ErrorList) {
	p := field.NewPath("argv")
	return SplitV2(argv, func(i int) *field.Path { return p.Index(i) }, env, field.NewPath("env"))
}

// showKVs renders settings as name=value@path (valueFrom as <from>), so that
// a test pins where each one was read from too.
func showKVs(kvs []Setting) []string {
	var out []string
	for _, s := range kvs {
		v := s.Value
		if s.From != nil {
			v = "<from>"
		}
		if s.Name != "" {
			v = s.Name + "=" + v
		}
		out = append(out, v+"@"+s.Path.String())
	}
	return out
}

// showErrs renders errors as "Type field: bad value", leaving the wording
// to the code.
func showErrs(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, fmt.Sprintf("%s %s: %v", e.Type, e.Field, e.BadValue))
	}
	return out
}

func TestSplitV2(t *testing.T) {
	const ic = "my-project:us-central1:db"
	env := func(kv ...string) []corev1.EnvVar {
		var out []corev1.EnvVar
		for i := 0; i < len(kv); i += 2 {
			out = append(out, corev1.EnvVar{Name: kv[i], Value: kv[i+1]})
		}
		return out
	}
	tests := []struct {
		name      string
		argv      []string
		env       []corev1.EnvVar
		flags     []string
		instances []string
		errs      []string
	}{
		{
			name: "upstream job with shutdown hook",
			argv: []string{"/cloud-sql-proxy", "--admin-port=9091", "--quitquitquit", "--exit-zero-on-sigterm", "--port=5432", ic},
			flags: []string{"admin-port=9091@argv[1]", "exit-zero-on-sigterm=true@argv[3]", "port=5432@argv[4]",
				"quitquitquit=true@argv[2]"},
			instances: []string{ic + "@argv[5]"},
		},
		{
			name:      "flags after the instance, separate values",
			argv:      []string{"/cloud-sql-proxy", ic, "--credentials-file", "/secrets/key.json", "--port", "5432"},
			flags:     []string{"credentials-file=/secrets/key.json@argv[2]", "port=5432@argv[4]"},
			instances: []string{ic + "@argv[1]"},
		},
		{
			name:      "shorthands: attached, with =, separate, bundled",
			argv:      []string{"/cloud-sql-proxy", "-p5432", "-a=0.0.0.0", "-c", "/k.json", "-il", ic},
			flags:     []string{"address=0.0.0.0@argv[2]", "auto-iam-authn=true@argv[5]", "credentials-file=/k.json@argv[3]", "port=5432@argv[1]", "structured-logs=true@argv[5]"},
			instances: []string{ic + "@argv[6]"},
		},
		{
			name:      "a bundle ending in a value shorthand",
			argv:      []string{"/cloud-sql-proxy", "-ip", "5432", ic},
			flags:     []string{"auto-iam-authn=true@argv[1]", "port=5432@argv[1]"},
			instances: []string{ic + "@argv[3]"},
		},
		{
			name:      "long names with one dash are read as long flags",
			argv:      []string{"/cloud-sql-proxy", "-private-ip", "-port=6000", ic},
			flags:     []string{"port=6000@argv[2]", "private-ip=true@argv[1]"},
			instances: []string{ic + "@argv[3]"},
		},
		{
			name:      "a value may start with a dash",
			argv:      []string{"/cloud-sql-proxy", "--token", "--x", ic},
			flags:     []string{"token=--x@argv[1]"},
			instances: []string{ic + "@argv[3]"},
		},
		{
			name:      "booleans with values, last one wins",
			argv:      []string{"/cloud-sql-proxy", "--private-ip=false", "--quiet=TRUE", "--port=1", "--port=2", ic},
			flags:     []string{"port=2@argv[4]", "private-ip=false@argv[1]", "quiet=TRUE@argv[2]"},
			instances: []string{ic + "@argv[5]"},
		},
		{
			name:      "after -- everything is an instance, in order",
			argv:      []string{"/cloud-sql-proxy", "a:b:c?port=1", "--", "--port", "d:e:f"},
			instances: []string{"a:b:c?port=1@argv[1]", "--port@argv[3]", "d:e:f@argv[4]"},
		},
		{
			name:      "the alias of sqldata-api-endpoint",
			argv:      []string{"/cloud-sql-proxy", "--sql-data-endpoint=https://x/", ic},
			flags:     []string{"sqldata-api-endpoint=https://x/@argv[1]"},
			instances: []string{ic + "@argv[2]"},
		},
		{
			name: "operator style: everything from env",
			argv: []string{"/cloud-sql-proxy", ic + "?port=5000"},
			env: env("CSQL_PROXY_HEALTH_CHECK", "true", "CSQL_PROXY_HTTP_PORT", "9801", "CSQL_PROXY_HTTP_ADDRESS", "0.0.0.0",
				"CSQL_PROXY_QUIT_URLS", "http://localhost:9091/quitquitquit", "CSQL_PROXY_USER_AGENT", "cloud-sql-proxy-operator/1.8.1"),
			flags: []string{"health-check=true@env[0].value", "http-address=0.0.0.0@env[2].value", "http-port=9801@env[1].value",
				"user-agent=cloud-sql-proxy-operator/1.8.1@env[4].value"},
			instances: []string{ic + "?port=5000@argv[1]"},
		},
		{
			name:      "flags win over env; the last env definition wins; empty env is unset",
			argv:      []string{"/cloud-sql-proxy", "--port=6000", ic},
			env:       env("CSQL_PROXY_PORT", "5432", "CSQL_PROXY_QUIET", "false", "CSQL_PROXY_QUIET", "true", "CSQL_PROXY_TOKEN", ""),
			flags:     []string{"port=6000@argv[1]", "quiet=true@env[2].value"},
			instances: []string{ic + "@argv[2]"},
		},
		{
			name:      "env alias and valueFrom",
			argv:      []string{"/cloud-sql-proxy", ic},
			env:       append(env("CSQL_PROXY_SQL_DATA_ENDPOINT", "https://x/"), corev1.EnvVar{Name: "CSQL_PROXY_TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "t"}}}),
			flags:     []string{"sqldata-api-endpoint=https://x/@env[0].value", "token=<from>@env[1].valueFrom"},
			instances: []string{ic + "@argv[1]"},
		},
		{
			name:      "instances from env: the unnumbered one, then _1, _2",
			argv:      []string{"/cloud-sql-proxy"},
			env:       env("CSQL_PROXY_INSTANCE_CONNECTION_NAME_2", "c:d:e", "CSQL_PROXY_INSTANCE_CONNECTION_NAME", "a:b:c", "CSQL_PROXY_INSTANCE_CONNECTION_NAME_1", "b:c:d"),
			instances: []string{"a:b:c@env[1].value", "b:c:d@env[2].value", "c:d:e@env[0].value"},
		},
		{
			name:      "instances from env: _0 when there is no unnumbered one",
			argv:      []string{"/cloud-sql-proxy", "--auto-iam-authn"},
			env:       env("CSQL_PROXY_INSTANCE_CONNECTION_NAME_0", "a:b:c?port=5000", "CSQL_PROXY_INSTANCE_CONNECTION_NAME_1", "b:c:d?port=5001"),
			flags:     []string{"auto-iam-authn=true@argv[1]"},
			instances: []string{"a:b:c?port=5000@env[0].value", "b:c:d?port=5001@env[1].value"},
		},
		{
			name:      "instance env vars the proxy never reads",
			argv:      []string{"/cloud-sql-proxy"},
			env:       env("CSQL_PROXY_INSTANCE_CONNECTION_NAME", "a:b:c", "CSQL_PROXY_INSTANCE_CONNECTION_NAME_0", "x:y:z", "CSQL_PROXY_INSTANCE_CONNECTION_NAME_2", "c:d:e"),
			instances: []string{"a:b:c@env[0].value"},
			errs:      []string{"Invalid value env[1].name: CSQL_PROXY_INSTANCE_CONNECTION_NAME_0", "Invalid value env[2].name: CSQL_PROXY_INSTANCE_CONNECTION_NAME_2"},
		},
		{
			name:      "a numbered instance without a first one",
			argv:      []string{"/cloud-sql-proxy"},
			env:       env("CSQL_PROXY_INSTANCE_CONNECTION_NAME_1", "a:b:c"),
			errs:      []string{"Invalid value env[0].name: CSQL_PROXY_INSTANCE_CONNECTION_NAME_1"},
			instances: nil,
		},
		{
			name:      "env instances beside argument instances",
			argv:      []string{"/cloud-sql-proxy", ic},
			env:       env("CSQL_PROXY_INSTANCE_CONNECTION_NAME", "a:b:c"),
			instances: []string{ic + "@argv[1]"},
			errs:      []string{"Invalid value env[0].name: CSQL_PROXY_INSTANCE_CONNECTION_NAME"},
		},
		{
			name:      "a boolean env var the proxy would ignore",
			argv:      []string{"/cloud-sql-proxy", ic},
			env:       env("CSQL_PROXY_PRIVATE_IP", "yes"),
			instances: []string{ic + "@argv[1]"},
			errs:      []string{"Invalid value env[0].value: yes"},
		},
		{
			name: "every argument the proxy rejects, at once",
			argv: []string{"/cloud-sql-proxy", "--nope", "---x", "--quiet=yes", "-z", "--help", "-v", ic, "--private-ip", "true", "--port"},
			errs: []string{"Invalid value argv[1]: --nope", "Invalid value argv[2]: ---x", "Invalid value argv[3]: yes",
				"Invalid value argv[4]: -z", "Invalid value argv[5]: --help", "Invalid value argv[6]: -v",
				"Invalid value argv[9]: true", "Invalid value argv[10]: --port"},
			instances: []string{ic + "@argv[7]"},
		},
		{
			name:      "a subcommand",
			argv:      []string{"/cloud-sql-proxy", "wait", "--max", "30s"},
			errs:      []string{"Invalid value argv[2]: --max", "Invalid value argv[1]: wait"},
			instances: []string{"wait@argv[1]", "30s@argv[3]"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			flags, insts, errs := splitV2(tt.argv, tt.env)
			if diff := cmp.Diff(tt.flags, showKVs(flags)); diff != "" {
				t.Errorf("flags (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.instances, showKVs(insts)); diff != "" {
				t.Errorf("instances (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.errs, showErrs(errs)); diff != "" {
				t.Errorf("errors (-want +got):\n%s\n%v", diff, errs)
			}
		})
	}
}

// TestV2FlagTable checks v2Flags against the proxy's own source at
// Release when the Go module cache has it (e2e/build-real-systems.sh
// puts it there): every flag NewCommand registers on the root command, with
// its shorthand and whether it takes a value, and no other. On drift it
// says what to change. It is skipped without the source.
func TestV2FlagTable(t *testing.T) {
	var got []v2Flag
	for _, f := range proxysrc.RootFlags(proxyV2Source(t, "cmd/root.go")) {
		got = append(got, v2Flag{name: f.Name, short: f.Short, value: f.Value})
	}
	if diff := cmp.Diff(v2Flags, got, cmp.AllowUnexported(v2Flag{})); diff != "" {
		t.Errorf("v2Flags against cmd/root.go of proxy %s (-table +source):\n%s", Release, diff)
		have := map[string]v2Flag{}
		for _, f := range v2Flags {
			have[f.name] = f
		}
		for _, f := range got {
			if old, ok := have[f.name]; !ok || old != f {
				t.Errorf("set this entry in v2Flags (internal/proxycmd/v2.go), keeping it sorted: %s; then give the flag an entry in flagTable with its release (flagtable.go), or list it in notOffered (flagtable_test.go) with the reason the library has no option for it", v2FlagLiteral(f))
			}
		}
	}
	if !sort.SliceIsSorted(v2Flags, func(i, j int) bool { return v2Flags[i].name < v2Flags[j].name }) {
		t.Error("v2Flags must stay sorted: lookupV2Flag searches it")
	}
}

// v2FlagLiteral is f as Go source for v2Flags.
func v2FlagLiteral(f v2Flag) string {
	s := fmt.Sprintf("{name: %q", f.name)
	if f.short != 0 {
		s += fmt.Sprintf(", short: '%c'", f.short)
	}
	if f.value {
		s += ", value: true"
	}
	return s + "}"
}

// proxyV2Source reads a file of the proxy module at Release from the
// module cache, or skips the test.
func proxyV2Source(t *testing.T, file string) []byte {
	t.Helper()
	return moduleSource(t, "github.com/!google!cloud!platform/cloud-sql-proxy/v2@v"+Release, file)
}

// moduleSource reads a file of a module (its escaped path@version) from the
// module cache, or skips the test: the sources are there after
// e2e/build-real-systems.sh (v2) or `go mod download
// github.com/GoogleCloudPlatform/cloudsql-proxy@v1.38.5` (v1).
func moduleSource(t *testing.T, mod, file string) []byte {
	t.Helper()
	dir := os.Getenv("GOMODCACHE")
	if dir == "" {
		gopath := os.Getenv("GOPATH")
		if gopath == "" {
			home, _ := os.UserHomeDir()
			gopath = filepath.Join(home, "go")
		}
		dir = filepath.Join(filepath.SplitList(gopath)[0], "pkg", "mod")
	}
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(mod), filepath.FromSlash(file)))
	if err != nil {
		t.Skipf("%s not in the module cache: %v", mod, err)
	}
	return b
}
