package proxycmd

import (
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestTranslateV1(t *testing.T) {
	const (
		a = "my-project:us-central1:orders"
		b = "my-project:us-central1:users"
		c = "my-project:europe-west1:audit"
	)
	// ai is v1's IP preference (public, else private), which a v1 proxy
	// without -ip_address_types had.
	const ez, ai = "--exit-zero-on-sigterm", "--auto-ip"
	tests := []struct {
		name string
		argv []string
		want []string
		errs []string
	}{
		{
			name: "upstream sidecar with a service account key",
			argv: []string{"/cloud_sql_proxy", "-log_debug_stdout", "-instances=" + a + "=tcp:5432", "-credential_file=/secrets/service_account.json"},
			want: []string{ai, "--credentials-file=/secrets/service_account.json", ez, a + "?port=5432"},
		},
		{
			name: "upstream health check",
			argv: []string{"/cloud_sql_proxy", "-instances=" + a + "=tcp:5432", "-use_http_health_check", "-health_check_port=8091", "-credential_file=/secrets/service_account.json"},
			want: []string{ai, "--credentials-file=/secrets/service_account.json", ez, "--health-check", "--http-address=0.0.0.0", "--http-port=8091", a + "?port=5432"},
		},
		{
			name: "health check on v1's default port",
			argv: []string{"/cloud_sql_proxy", "-instances=" + a + "=tcp:5432", "-use_http_health_check"},
			want: []string{ai, ez, "--health-check", "--http-address=0.0.0.0", "--http-port=8090", a + "?port=5432"},
		},
		{
			name: "the highest and lowest ports",
			argv: []string{"/cloud_sql_proxy", "-instances=" + a + "=tcp:65535," + b + "=tcp:127.0.0.1:1"},
			want: []string{ai, ez, a + "?port=65535", b + "?port=1"},
		},
		{
			name: "a port past the highest",
			argv: []string{"/cloud_sql_proxy", "-instances=" + a + "=tcp:65536"},
			errs: []string{"Invalid value argv[1]: " + a + "=tcp:65536"},
		},
		{
			name: "every socket in -dir",
			argv: []string{"/cloud_sql_proxy", "-dir", "/cloudsql", "-instances=" + a + "," + b},
			want: []string{ai, ez, "--unix-socket=/cloudsql", a, b},
		},
		{
			name: "sockets in -dir beside a TCP listener",
			argv: []string{"/cloud_sql_proxy", "-dir=/cloudsql", "-instances=" + a + "," + b + "=tcp:5433"},
			want: []string{ai, ez, a + "?unix-socket=/cloudsql", b + "?port=5433"},
		},
		{
			name: "a TCP listener before sockets in -dir",
			argv: []string{"/cloud_sql_proxy", "-dir=/cloudsql", "-instances=" + b + "=tcp:5433," + a},
			want: []string{ai, ez, b + "?port=5433", a + "?unix-socket=/cloudsql"},
		},
		{
			name: "socket paths, absolute and relative to -dir",
			argv: []string{"/cloud_sql_proxy", "-dir=/cloudsql", "-instances=" + a + "=unix:/sockets/orders," + b + "=unix:users.sock"},
			want: []string{ai, ez, a + "?unix-socket-path=/sockets/orders", b + "?unix-socket-path=/cloudsql/users.sock"},
		},
		{
			name: "-dir unused by TCP listeners is dropped",
			argv: []string{"/cloud_sql_proxy", "-dir=/cloudsql", "-instances=" + a + "=tcp:5432"},
			want: []string{ai, ez, a + "?port=5432"},
		},
		{
			name: "TCP hosts",
			argv: []string{"/cloud_sql_proxy", "-instances=" +
				a + "=tcp:0.0.0.0:5432," + b + "=tcp:localhost:5433," + c + "=tcp:[::1]:5434",
				"-instances=" + a + "=tcp6:5435," + b + "=tcp::5436," + c + "=tcp4:127.0.0.1:5437," + a + "=tcp6:localhost:5438"},
			want: []string{ai, ez, a + "?address=0.0.0.0&port=5432", b + "?port=5433", c + "?address=::1&port=5434",
				a + "?address=::1&port=5435", b + "?address=0.0.0.0&port=5436", c + "?port=5437", a + "?address=::1&port=5438"},
		},
		{
			name: "repeated -instances keep their order; empty entries are skipped",
			argv: []string{"/cloud_sql_proxy", "--instances=" + b + "=tcp:5001,," + a + "=tcp:5000,", "-instances", c + "=tcp:5002"},
			want: []string{ai, ez, b + "?port=5001", a + "?port=5000", c + "?port=5002"},
		},
		{
			name: "a domain-scoped project",
			argv: []string{"/cloud_sql_proxy", "-instances=example.com:my-project:us-central1:db=tcp:5432"},
			want: []string{ai, ez, "example.com:my-project:us-central1:db?port=5432"},
		},
		{
			name: "every mapped flag, single and double dash, separate values",
			argv: []string{"/cloud_sql_proxy", "-instances=" + a + "=tcp:5432", "-enable_iam_login", "--structured_logs=true",
				"-term_timeout", "1m30s", "-max_connections=0x10", "-ip_address_types=PRIVATE", "--skip_failed_instance_config",
				"-host=https://sqladmin.googleapis.com/", "-quota_project=billing-project", "-token", "-not-a-flag-but-a-token",
				"-login_token=ltok", "-quiet=1"},
			want: []string{"--auto-iam-authn", ez, "--login-token=ltok", "--max-connections=16", "--max-sigterm-delay=1m30s",
				"--private-ip", "--quiet", "--quota-project=billing-project", "--skip-failed-instance-config",
				"--sqladmin-api-endpoint=https://sqladmin.googleapis.com/", "--structured-logs", "--token=-not-a-flag-but-a-token",
				a + "?port=5432"},
		},
		{
			name: "v1 defaults given explicitly add nothing",
			argv: []string{"/cloud_sql_proxy", "-instances=" + a + "=tcp:5432", "-quiet=false", "-verbose=true", "-enable_iam_login=F",
				"-term_timeout=0", "-max_connections=0", "-credential_file=", "-fuse=false", "-use_http_health_check=false",
				"-projects=", "-instances_metadata=", "-version=false", "-ip_address_types=PUBLIC"},
			want: []string{ez, a + "?port=5432"},
		},
		{
			name: "-verbose=false becomes --quiet",
			argv: []string{"/cloud_sql_proxy", "-verbose=false", "-instances=" + a + "=tcp:5432"},
			want: []string{ai, ez, "--quiet", a + "?port=5432"},
		},
		{
			name: "IP address types v2 has",
			argv: []string{"/cloud_sql_proxy", "-ip_address_types=public,private", "-instances=" + a + "=tcp:5432"},
			want: []string{"--auto-ip", ez, a + "?port=5432"},
		},
		{
			name: "PRIMARY is PUBLIC, a repeat adds nothing",
			argv: []string{"/cloud_sql_proxy", "-ip_address_types=PRIMARY,PUBLIC", "-instances=" + a + "=tcp:5432"},
			want: []string{ez, a + "?port=5432"},
		},
		{
			name: "dropped flags",
			argv: []string{"/cloud_sql_proxy", "-instances=" + a + "=tcp:5432", "-check_region", "-fd_rlimit=1024",
				"-refresh_config_throttle=5s", "-verbose", "-log_debug_stdout=false", "-health_check_port=9000", "-fuse_tmp=/tmp/f"},
			want: []string{ai, ez, a + "?port=5432"},
		},
		{
			name: "FUSE",
			argv: []string{"/cloud_sql_proxy", "-fuse", "-dir=/cloudsql", "-fuse_tmp=/tmp/fuse"},
			want: []string{ai, ez, "--fuse=/cloudsql", "--fuse-tmp-dir=/tmp/fuse"},
		},
		{
			name: "env var references in connection names stay for the kubelet",
			argv: []string{"/cloud_sql_proxy", "-instances=$(DB_INSTANCE)=tcp:5432"},
			want: []string{ai, ez, "$(DB_INSTANCE)?port=5432"},
		},
		{
			name: "query metacharacters in a socket path are escaped",
			argv: []string{"/cloud_sql_proxy", "-instances=" + a + "=unix:/s/a b&c+d%e#f;g?h"},
			want: []string{ai, ez, a + "?unix-socket-path=/s/a%20b%26c%2Bd%25e%23f%3Bg%3Fh"},
		},
		{
			name: "last value of a flag wins",
			argv: []string{"/cloud_sql_proxy", "-credential_file=/a.json", "-instances=" + a + "=tcp:5432", "--credential_file", "/b.json"},
			want: []string{ai, "--credentials-file=/b.json", ez, a + "?port=5432"},
		},
		{
			name: "flags v2 has no setting for, and values v1 rejects, all at once",
			argv: []string{"/cloud_sql_proxy", "-projects=p1,p2", "-instances_metadata=instance/attributes/x", "-version", "-h", "-nope=1",
				"-term_timeout=30", "-max_connections=-1", "-instances=my-project:db", "-instances=" + a + "=tcp:db.internal:5432",
				"-instances=" + b + "=udp:5432", "-instances=" + c + "=tcp:0", "-instances=" + a + "=tcp:5432=x", "-instances=" + b + "=tcp",
				"-host=https://sqladmin.googleapis.com", "-ip_address_types=PRIVATE,PUBLIC",
				"-enable_iam_login=yes", "-credential_file"},
			errs: []string{
				"Invalid value argv[4]: -h", "Invalid value argv[5]: -nope=1", "Invalid value argv[6]: 30", "Invalid value argv[7]: -1",
				"Invalid value argv[16]: -enable_iam_login=yes", "Invalid value argv[17]: -credential_file",
				"Invalid value argv[8]: my-project:db", "Invalid value argv[9]: " + a + "=tcp:db.internal:5432",
				"Invalid value argv[10]: " + b + "=udp:5432", "Invalid value argv[11]: " + c + "=tcp:0",
				"Invalid value argv[12]: " + a + "=tcp:5432=x", "Invalid value argv[13]: " + b + "=tcp",
				"Invalid value argv[14]: https://sqladmin.googleapis.com", "Invalid value argv[15]: PRIVATE,PUBLIC",
				"Invalid value argv[1]: p1,p2", "Invalid value argv[2]: instance/attributes/x", "Invalid value argv[3]: true",
			},
		},
		{
			name: "a key file wins over tokens, as in v1",
			argv: []string{"/cloud_sql_proxy", "-instances=" + a + "=tcp:5432", "-token=t", "-login_token=l", "-credential_file=/k.json"},
			want: []string{ai, "--credentials-file=/k.json", ez, a + "?port=5432"},
		},
		{
			name: "a token for IAM login needs a login token",
			argv: []string{"/cloud_sql_proxy", "-instances=" + a + "=tcp:5432", "-token=t", "-enable_iam_login"},
			errs: []string{"Invalid value argv[2]: t"},
		},
		{
			name: "a login token needs a token and IAM login",
			argv: []string{"/cloud_sql_proxy", "-instances=" + a + "=tcp:5432", "-login_token=l", "-enable_iam_login"},
			errs: []string{"Invalid value argv[2]: l"},
		},
		{
			name: "flags v1 never had",
			argv: []string{"/cloud_sql_proxy", "-instances=" + a + "=tcp:5432", "-impersonate_service_account=sa@p.iam.gserviceaccount.com",
				"-sqladmin_api_endpoint=https://x/", "--port=5432", "-private_ip"},
			errs: []string{"Invalid value argv[2]: -impersonate_service_account=sa@p.iam.gserviceaccount.com",
				"Invalid value argv[3]: -sqladmin_api_endpoint=https://x/", "Invalid value argv[4]: --port=5432", "Invalid value argv[5]: -private_ip"},
		},
		{
			name: "FUSE without -dir, or with instances",
			argv: []string{"/cloud_sql_proxy", "-fuse"},
			errs: []string{"Invalid value argv[1]: true"},
		},
		{
			name: "FUSE with instances",
			argv: []string{"/cloud_sql_proxy", "-fuse", "-dir=/c", "-instances=" + a},
			errs: []string{"Invalid value argv[1]: true"},
		},
		{
			name: "a socket without -dir",
			argv: []string{"/cloud_sql_proxy", "-instances=" + a + "," + b + "=unix:rel," + c + "=unix:/abs"},
			errs: []string{"Invalid value argv[1]: " + a, "Invalid value argv[1]: " + b + "=unix:rel"},
		},
		{
			name: "health check on a port that is not a number",
			argv: []string{"/cloud_sql_proxy", "-instances=" + a + "=tcp:5432", "-use_http_health_check", "-health_check_port=http"},
			errs: []string{"Invalid value argv[3]: http"},
		},
		{
			name: "unknown IP address types",
			argv: []string{"/cloud_sql_proxy", "-instances=" + a + "=tcp:5432", "-ip_address_types="},
			errs: []string{"Invalid value argv[2]: "},
		},
		{
			name: "an env var reference that may hold the listener",
			argv: []string{"/cloud_sql_proxy", "-dir=/cloudsql", "-instances=$(INSTANCES)," + a + "=tcp:$(PORT)"},
			errs: []string{"Invalid value argv[2]: $(INSTANCES)", "Invalid value argv[2]: " + a + "=tcp:$(PORT)"},
		},
		{
			name: "v1 stops at the first non-flag",
			argv: []string{"/cloud_sql_proxy", "-instances=" + a + "=tcp:5432", "extra", "-token=t"},
			errs: []string{"Invalid value argv[2]: extra"},
		},
		{
			name: "and after --",
			argv: []string{"/cloud_sql_proxy", "-instances=" + a + "=tcp:5432", "--", "-token=t"},
			errs: []string{"Invalid value argv[3]: -token=t"},
		},
		{
			name: "bad flag syntax",
			argv: []string{"/cloud_sql_proxy", "---instances=x", "-=x", "-instances=" + a + "=tcp:5432"},
			errs: []string{"Invalid value argv[1]: ---instances=x", "Invalid value argv[2]: -=x"},
		},
		{
			name: "only empty instance names",
			argv: []string{"/cloud_sql_proxy", "-instances=,", "-dir=/cloudsql"},
			errs: []string{"Required value argv[0]: "},
		},
		{
			name: "no instances at all",
			argv: []string{"/cloud_sql_proxy", "-instances=", "-credential_file=/k.json"},
			errs: []string{"Required value argv[0]: "},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := TranslateV1(tt.argv)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("translateV1 (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.errs, showErrs(errs)); diff != "" {
				t.Errorf("errors (-want +got):\n%s\n%v", diff, errs)
			}
			if len(errs) > 0 {
				return
			}
			// The translation is what splitV2 reads without a complaint.
			argv := append([]string{"/cloud-sql-proxy"}, got...)
			if _, _, errs := splitV2(argv, nil); len(errs) > 0 {
				t.Errorf("splitV2 of the translation: %v", errs)
			}
		})
	}
}

func TestTranslateV1Container(t *testing.T) {
	const a = "my-project:us-central1:orders"
	const img = "gcr.io/cloudsql-docker/gce-proxy:1.33.2"
	secret := &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "instances"}}
	tests := []struct {
		name string
		c    corev1.Container
		want []string
		errs []string
	}{
		{
			name: "INSTANCES from env when no -instances",
			c: corev1.Container{Image: img, Command: []string{"/cloud_sql_proxy", "-dir=/cloudsql"},
				Env: []corev1.EnvVar{{Name: "INSTANCES", Value: "x"}, {Name: "INSTANCES", Value: a + "=tcp:5432," + a}}},
			want: []string{"--auto-ip", "--exit-zero-on-sigterm", a + "?port=5432", a + "?unix-socket=/cloudsql"},
		},
		{
			name: "-instances wins over INSTANCES",
			c: corev1.Container{Image: img, Command: []string{"/cloud_sql_proxy", "-instances=" + a + "=tcp:5432"},
				Env: []corev1.EnvVar{{Name: "INSTANCES", ValueFrom: secret}}},
			want: []string{"--auto-ip", "--exit-zero-on-sigterm", a + "?port=5432"},
		},
		{
			name: "INSTANCES from a Secret",
			c:    corev1.Container{Image: img, Command: []string{"/cloud_sql_proxy"}, Env: []corev1.EnvVar{{Name: "INSTANCES", ValueFrom: secret}}},
			errs: []string{"Invalid value spec.containers[1].env[0].valueFrom: "},
		},
		{
			name: "an empty INSTANCES is unset",
			c:    corev1.Container{Image: img, Command: []string{"/cloud_sql_proxy"}, Env: []corev1.EnvVar{{Name: "INSTANCES"}}},
			errs: []string{"Required value spec.containers[1].command[0]: "},
		},
		{
			name: "a shell-wrapped v1: errors name the script",
			c: corev1.Container{Image: img + "-alpine", Command: []string{"/bin/sh", "-c"},
				Args: []string{"exec /cloud_sql_proxy -instances=" + a + "=tcp:5432 -projects=x"}},
			errs: []string{"Invalid value spec.containers[1].args[0]: x"},
		},
		{
			name: "a shell-wrapped v1",
			c: corev1.Container{Image: img + "-alpine", Command: []string{"/bin/sh", "-c"},
				Args: []string{"exec /cloud_sql_proxy -instances=" + a + "=tcp:5432 \\\n  -credential_file=/secrets/key.json\n"}},
			want: []string{"--auto-ip", "--credentials-file=/secrets/key.json", "--exit-zero-on-sigterm", a + "?port=5432"},
		},
		{
			name: "a shell script that is more than the proxy",
			c:    corev1.Container{Image: img + "-alpine", Command: []string{"sh", "-c", "/cloud_sql_proxy -instances=" + a + " & wait"}},
			errs: []string{"Invalid value spec.containers[1].command[2]: &"},
		},
		{
			name: "under tini, paths still point at the args",
			c:    corev1.Container{Image: "mycorp/tools:1", Command: []string{"tini", "--"}, Args: []string{"/cloud_sql_proxy", "-nope"}},
			errs: []string{"Invalid value spec.containers[1].args[1]: -nope", "Required value spec.containers[1].args[0]: "},
		},
		{
			name: "a wrapper of its own",
			c:    corev1.Container{Image: img, Command: []string{"/entrypoint.sh", "-instances=" + a}},
			errs: []string{"Invalid value spec.containers[1].command[0]: /entrypoint.sh"},
		},
		{
			name: "no command on the v1 image",
			c:    corev1.Container{Image: img},
			errs: []string{"Required value spec.containers[1].command: "},
		},
		{
			name: "a v2 proxy",
			c:    corev1.Container{Image: "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.1", Args: []string{a}},
			errs: []string{"Invalid value spec.containers[1].image: gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, errs := TranslateV1Container(pathOf("spec").Child("containers").Index(1), &tt.c)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("TranslateV1Container (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.errs, showErrs(errs)); diff != "" {
				t.Errorf("errors (-want +got):\n%s\n%v", diff, errs)
			}
		})
	}
}

// TestV1FlagTables keeps the flag list, the translation table and the v1
// source in step: every v1 flag has a row saying what becomes of it, and,
// when the module cache has the v1.38.5 source, the list is exactly the
// flags cloud_sql_proxy.go defines, with their types.
func TestV1FlagTables(t *testing.T) {
	var listed, explained []string
	for f := range v1Flags {
		listed = append(listed, f)
	}
	for _, r := range v1Translations {
		explained = append(explained, r.flag)
		if r.v2 == "" && r.dropped == "" && r.refused == "" {
			t.Errorf("row %s says nothing", r.flag)
		}
	}
	// v1Renames does what the rows say: each one-to-one mapping is its
	// row's successor.
	for _, r := range v1Renames {
		i := slices.IndexFunc(v1Translations, func(tr v1Translation) bool { return tr.flag == r.v1 })
		if i < 0 || !strings.HasPrefix(v1Translations[i].v2, "--"+r.v2) {
			t.Errorf("v1Renames maps -%s to --%s, which its v1Translations row does not say", r.v1, r.v2)
		}
		if typ := v1Flags[r.v1]; (typ == v1Bool) != (r.value == nil) {
			t.Errorf("v1Renames: -%s is a switch exactly when v1 reads it as a boolean", r.v1)
		}
	}
	sort.Strings(listed)
	sort.Strings(explained)
	if diff := cmp.Diff(listed, explained); diff != "" {
		t.Errorf("v1Translations rows against v1Flags (-flags +rows):\n%s", diff)
	}

	src := moduleSource(t, "github.com/!google!cloud!platform/cloudsql-proxy@v1.38.5", "cmd/cloud_sql_proxy/cloud_sql_proxy.go")
	got := map[string]v1Type{}
	types := map[string]v1Type{"Bool": v1Bool, "String": v1String, "Duration": v1Duration, "Uint64": v1Uint}
	for _, m := range regexp.MustCompile(`flag\.(Bool|String|Duration|Uint64)\("(\w+)"`).FindAllStringSubmatch(string(src), -1) {
		got[m[2]] = types[m[1]]
	}
	for _, m := range regexp.MustCompile(`flag\.Var\(&\w+,\s*"(\w+)"`).FindAllStringSubmatch(string(src), -1) {
		got[m[1]] = v1List
	}
	if diff := cmp.Diff(v1Flags, got); diff != "" {
		t.Errorf("v1Flags against cloud_sql_proxy.go (-table +source):\n%s", diff)
	}
}

func TestQueryEscape(t *testing.T) {
	for in, want := range map[string]string{
		"/cloudsql/db":   "/cloudsql/db",
		"a b":            "a%20b",
		"%&+;#=?":        "%25%26%2B%3B%23%3D%3F",
		"tab\there\x7f":  "tab%09here%7F",
		"caf\xc3\xa9":    "caf%C3%A9",
		"::1":            "::1",
		"C:\\not\\posix": "C:\\not\\posix",
	} {
		if got := queryEscape(in); got != want {
			t.Errorf("queryEscape(%q) = %q, want %q", in, got, want)
		}
		if !strings.Contains(want, "%") && in != want {
			t.Errorf("%q should be kept as is", in)
		}
	}
}

// FuzzTranslateV1 feeds translateV1 command lines (one argument a line) and
// TranslateV1Container the same text as a sh -c script. Neither may panic
// or vary between runs; a translation without errors is a v2 command line
// splitV2 reads without a complaint, every flag named and known, with an
// instance or --fuse; a translation with errors is nothing at all.
func FuzzTranslateV1(f *testing.F) {
	for _, seed := range []string{
		"-instances=my-project:us-central1:db=tcp:5432\n-credential_file=/secrets/key.json",
		"-dir\n/cloudsql\n-instances=a:b:c,d:e:f=tcp:0.0.0.0:5433,g:h:i=unix:rel",
		"--instances=a:b:c=tcp6:localhost:1\n-use_http_health_check\n-health_check_port=8091\n-verbose=false",
		"-fuse\n-dir=/c\n-fuse_tmp=/t\n-ip_address_types=PUBLIC,PRIVATE",
		"-instances=$(X)=tcp:5432\n-term_timeout\n1m\n-max_connections=0x10\n-token\n-x",
		"-projects=p\n--\n-=x\n---y\nextra",
		"exec /cloud_sql_proxy -instances='a:b:c=tcp:5432' \"-token=a b\" \\\n -dir=/x # c",
		"/cloud_sql_proxy -instances=a:b:c=unix:/s/a%b&c+d & wait $!",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		argv := append([]string{"/cloud_sql_proxy"}, strings.Split(s, "\n")...)
		v2, errs := TranslateV1(argv)
		again, errs2 := TranslateV1(argv)
		if !cmp.Equal(v2, again) || !cmp.Equal(showErrs(errs), showErrs(errs2)) {
			t.Fatalf("not deterministic: %q %v, then %q %v", v2, errs, again, errs2)
		}
		checkV2Translation(t, v2, errs)

		c := corev1.Container{Image: "gcr.io/cloudsql-docker/gce-proxy:1.33.2-alpine", Command: []string{"/bin/sh", "-c", s}}
		v2c, _, errsc := TranslateV1Container(pathOf("c"), &c)
		again, _, errs2 = TranslateV1Container(pathOf("c"), &c)
		if !cmp.Equal(v2c, again) || !cmp.Equal(showErrs(errsc), showErrs(errs2)) {
			t.Fatalf("container: not deterministic: %q %v, then %q %v", v2c, errsc, again, errs2)
		}
		checkV2Translation(t, v2c, errsc)
	})
}

func checkV2Translation(t *testing.T, v2 []string, errs []*field.Error) {
	t.Helper()
	if len(errs) > 0 {
		if v2 != nil {
			t.Fatalf("errors %v and a translation %q", errs, v2)
		}
		for _, e := range errs {
			if e.Field == "" || e.Detail == "" {
				t.Fatalf("an error without a field or a reason: %#v", e)
			}
		}
		return
	}
	served := false
	for _, a := range v2 {
		if !strings.HasPrefix(a, "--") {
			served = true
			continue
		}
		name, _, _ := strings.Cut(a[2:], "=")
		if _, ok := lookupV2Flag(name); !ok || name == "" {
			t.Fatalf("flag %q in %q is not a v2 flag", a, v2)
		}
		served = served || name == "fuse"
	}
	if !served {
		t.Fatalf("%q serves no instance", v2)
	}
	flags, insts, errs := splitV2(append([]string{V2Entrypoint}, v2...), nil)
	if len(errs) > 0 {
		t.Fatalf("splitV2 of %q: %v", v2, errs)
	}
	if n := len(flags) + len(insts); n != len(v2) {
		t.Fatalf("splitV2 of %q read %d flags and %d instances", v2, len(flags), len(insts))
	}
}
