package proxycmd

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// TestDetect also checks MayRun, the prefilter, on every case: it must let
// through every container Detect finds a proxy in.
func TestDetect(t *testing.T) {
	const (
		v2Image = "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.1"
		v1Image = "gcr.io/cloudsql-docker/gce-proxy:1.33.2"
		v1Flags = "-instances=my-project:us-central1:db=tcp:5432"
		v2Inst  = "my-project:us-central1:db"
	)
	sh := func(script string) []string { return []string{"/bin/sh", "-c", script} }
	tests := []struct {
		name string
		c    corev1.Container
		want Generation
	}{
		// v2 by image, whatever the registry, tag, variant or digest.
		{"upstream v2 sidecar", corev1.Container{Name: "cloud-sql-proxy", Image: v2Image, Args: []string{"--port=5432", v2Inst}}, V2},
		{"v2 without a tag", corev1.Container{Image: "gcr.io/cloud-sql-connectors/cloud-sql-proxy", Args: []string{v2Inst}}, V2},
		{"v2 us mirror", corev1.Container{Image: "us.gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.8.0", Args: []string{v2Inst}}, V2},
		{"v2 eu mirror, alpine", corev1.Container{Image: "eu.gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.25.3-alpine", Args: []string{v2Inst}}, V2},
		{"v2 asia mirror, digest", corev1.Container{Image: "asia.gcr.io/cloud-sql-connectors/cloud-sql-proxy@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", Args: []string{v2Inst}}, V2},
		{"v2 tag and digest", corev1.Container{Image: "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", Args: []string{v2Inst}}, V2},
		{"v2 Artifact Registry mirror", corev1.Container{Image: "us-central1-docker.pkg.dev/my-project/mirror/cloud-sql-proxy:2.11.4", Args: []string{v2Inst}}, V2},
		{"v2 in a private registry with a port", corev1.Container{Image: "registry.example.com:5000/gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.3", Args: []string{v2Inst}}, V2},
		{"v2 with its entrypoint as command", corev1.Container{Image: v2Image, Command: []string{"/cloud-sql-proxy"}, Args: []string{v2Inst}}, V2},
		{"v2 env-configured, no args", corev1.Container{Name: "csql-default-app", Image: v2Image, Env: []corev1.EnvVar{{Name: "CSQL_PROXY_INSTANCE_CONNECTION_NAME", Value: v2Inst}}}, V2},
		// v1 by image.
		{"upstream v1 sidecar", corev1.Container{Name: "cloudsql-proxy", Image: "gcr.io/cloudsql-docker/gce-proxy:1.28.0", Command: []string{"/cloud_sql_proxy", v1Flags}}, V1},
		{"v1 alpine variant", corev1.Container{Image: "gcr.io/cloudsql-docker/gce-proxy:1.33.2-alpine", Command: []string{"/cloud_sql_proxy", v1Flags}}, V1},
		{"v1 old tag on b.gcr.io", corev1.Container{Image: "b.gcr.io/cloudsql-docker/gce-proxy:1.11", Command: []string{"/cloud_sql_proxy", "--dir=/cloudsql", v1Flags}}, V1},
		{"v1 image, flags in args", corev1.Container{Image: v1Image, Args: []string{"/cloud_sql_proxy", v1Flags}}, V1},
		{"v1 image with a wrapper of its own", corev1.Container{Image: v1Image, Command: []string{"/entrypoint.sh"}}, V1},
		// By the binary, on any image and under any name.
		{"custom image running v1", corev1.Container{Name: "db", Image: "mycorp/tools:3.1", Command: []string{"/usr/local/bin/cloud_sql_proxy", v1Flags}}, V1},
		{"custom image running v2", corev1.Container{Name: "sql", Image: "mycorp/tools:3.1", Command: []string{"cloud-sql-proxy", "--port=5432", v2Inst}}, V2},
		{"relative binary", corev1.Container{Image: "mycorp/tools:3.1", Command: []string{"./cloud_sql_proxy"}, Args: []string{v1Flags}}, V1},
		{"under tini", corev1.Container{Image: "mycorp/tools:3.1", Command: []string{"/sbin/tini", "-g", "--", "/cloud_sql_proxy", v1Flags}}, V1},
		{"under dumb-init", corev1.Container{Image: "mycorp/tools:3.1", Command: []string{"dumb-init", "cloud-sql-proxy", v2Inst}}, V2},
		// Shell-wrapped.
		{"v1 alpine through sh -c", corev1.Container{Image: "gcr.io/cloudsql-docker/gce-proxy:1.33.2-alpine", Command: sh("/cloud_sql_proxy " + v1Flags + " -credential_file=/secrets/key.json")}, V1Shell},
		{"script in args", corev1.Container{Image: "gcr.io/cloudsql-docker/gce-proxy:1.17-alpine", Command: []string{"/bin/sh", "-c"}, Args: []string{"exec /cloud_sql_proxy " + v1Flags}}, V1Shell},
		{"bash -ec", corev1.Container{Image: "mycorp/tools:3.1", Command: []string{"bash", "-ec", "/cloud_sql_proxy " + v1Flags}}, V1Shell},
		{"busybox sh", corev1.Container{Image: "mycorp/tools:3.1", Command: []string{"busybox", "sh", "-c", "/cloud_sql_proxy " + v1Flags}}, V1Shell},
		{"v1 job pattern with a watcher loop", corev1.Container{Image: "gcr.io/cloudsql-docker/gce-proxy:1.33.2-alpine", Command: sh(
			"/cloud_sql_proxy " + v1Flags + " & CHILD_PID=$!; (while true; do if [ -f /tmp/pod/main-terminated ]; then kill $CHILD_PID; fi; sleep 1; done) & wait $CHILD_PID")}, V1Shell},
		{"after a trap", corev1.Container{Image: "mycorp/tools:3.1", Command: sh("trap 'kill $P' TERM; cloud_sql_proxy " + v1Flags + " & P=$!; wait $P")}, V1Shell},
		{"with an env assignment first", corev1.Container{Image: "mycorp/tools:3.1", Command: sh("GODEBUG=x=1 /cloud_sql_proxy " + v1Flags)}, V1Shell},
		{"binary path from a variable", corev1.Container{Image: "mycorp/tools:3.1", Command: sh("exec ${BIN_DIR}/cloud_sql_proxy " + v1Flags)}, V1Shell},
		{"v2 alpine through sh -c", corev1.Container{Image: "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.1-alpine", Command: sh("/cloud-sql-proxy --port 5432 " + v2Inst)}, V2Shell},
		// Not proxies.
		{"app named cloud-sql-proxy", corev1.Container{Name: "cloud-sql-proxy", Image: "nginx:1.27"}, None},
		{"app with the proxy in an env value", corev1.Container{Name: "app", Image: "mycorp/app:1", Env: []corev1.EnvVar{{Name: "PROXY_IMAGE", Value: v2Image}, {Name: "X", Value: "cloud-sql-proxy"}}}, None},
		{"app with the proxy in an arg", corev1.Container{Name: "app", Image: "mycorp/app:1", Command: []string{"/app"}, Args: []string{"--db-host=cloud-sql-proxy", "/cloud_sql_proxy"}}, None},
		{"app whose args name the binary, no command", corev1.Container{Image: "mycorp/app:1", Args: []string{"/cloud_sql_proxy", v1Flags}}, None},
		{"script mentioning the proxy as an argument", corev1.Container{Image: "busybox", Command: sh("echo cloud-sql-proxy && /app --proxy /cloud_sql_proxy")}, None},
		{"script waiting for the proxy", corev1.Container{Image: "busybox", Command: sh("until nc -z 127.0.0.1 5432; do sleep 1; done")}, None},
		{"script writing to a file named like the proxy", corev1.Container{Image: "busybox", Command: sh("date > /tmp/cloud_sql_proxy")}, None},
		{"proxy binary from a variable", corev1.Container{Image: "busybox", Command: sh("$BIN -instances=x")}, None},
		{"alpine proxy image running something else", corev1.Container{Image: "gcr.io/cloudsql-docker/gce-proxy:1.33.2-alpine", Command: sh("sleep 3600")}, None},
		// Unreadable, so counted as the proxy it most likely starts: Attach
		// then refuses a second one, and FromContainer says why it cannot read it.
		{"shell running a script file on a proxy image", corev1.Container{Image: "gcr.io/cloudsql-docker/gce-proxy:1.33.2-alpine", Command: []string{"sh", "/start.sh"}}, V1Shell},
		{"shell running a script file on another image", corev1.Container{Image: "alpine:3", Command: []string{"sh", "/start.sh"}}, None},
		{"the wait subcommand", corev1.Container{Name: "wait-for-proxy", Image: v2Image, Args: []string{"wait", "--max", "60s"}}, None},
		{"the wait subcommand after a flag", corev1.Container{Image: v2Image, Args: []string{"--http-port", "9801", "wait"}}, None},
		{"the wait subcommand after a boolean flag", corev1.Container{Image: v2Image, Args: []string{"--structured-logs", "wait"}}, None},
		{"a flag value spelled like a subcommand", corev1.Container{Image: v2Image, Args: []string{"--prometheus-namespace", "wait", "my-project:us-central1:db"}}, V2},
		{"the shutdown subcommand", corev1.Container{Image: v2Image, Command: []string{"/cloud-sql-proxy", "shutdown", "--admin-port", "9092"}}, None},
		{"the wait subcommand in a script", corev1.Container{Image: "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.1-alpine", Command: sh("/cloud-sql-proxy wait --max 30s")}, None},
		{"the operator's own image", corev1.Container{Name: "manager", Image: "gcr.io/cloud-sql-connectors/cloud-sql-proxy-operator:1.8.1", Args: []string{"--leader-elect"}}, None},
		{"a similarly named image", corev1.Container{Image: "example.com/cloud-sql-proxy-exporter:1", Args: []string{v2Inst}}, None},
		{"v1 under a watchdog", corev1.Container{Image: "mycorp/sqlproxy:1", Command: []string{"/watchkiller", "--grace=5", "/cloud_sql_proxy", "-instances=my-project:us-central1:db=tcp:5432"}}, V1},
		{"v2 under a watchdog", corev1.Container{Image: "mycorp/sqlproxy:1", Command: []string{"/watchkiller", "/cloud-sql-proxy", "--port=5432", "my-project:us-central1:db"}}, V2},
		{"psql against the proxy", corev1.Container{Image: "postgres:16", Command: []string{"psql", "-h", "cloud-sql-proxy"}}, None},
		{"curl to quitquitquit", corev1.Container{Image: "curlimages/curl", Command: []string{"curl", "-X", "POST", "http://localhost:9091/quitquitquit"}}, None},
		{"empty container", corev1.Container{}, None},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c.DeepCopy()
			got := Detect(c)
			if got != tt.want {
				t.Errorf("Detect = %v, want %v", got, tt.want)
			}
			if got != None && !MayRun(c) {
				t.Error("MayRun refuses a container Detect finds a proxy in")
			}
			if diff := cmp.Diff(&tt.c, c); diff != "" {
				t.Errorf("Detect changed the container (-before +after):\n%s", diff)
			}
		})
	}
}

func TestReadArgv(t *testing.T) {
	tests := []struct {
		name     string
		c        corev1.Container
		wantArgv []string
		wantAt   []string
		wantErrs []string
	}{
		{
			name:     "v2 image entrypoint before args",
			c:        corev1.Container{Image: "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.1", Args: []string{"--port=5432", "a:b:c"}},
			wantArgv: []string{"/cloud-sql-proxy", "--port=5432", "a:b:c"},
			wantAt:   []string{"c.image", "c.args[0]", "c.args[1]"},
		},
		{
			name:     "command then args, init skipped",
			c:        corev1.Container{Image: "x", Command: []string{"tini", "--", "/cloud_sql_proxy"}, Args: []string{"-dir=/cloudsql"}},
			wantArgv: []string{"/cloud_sql_proxy", "-dir=/cloudsql"},
			wantAt:   []string{"c.command[2]", "c.args[0]"},
		},
		{
			name:     "script words: quotes, backslashes, continuation, comment, exec",
			c:        corev1.Container{Image: "x", Command: []string{"sh", "-c", "exec /cloud_sql_proxy \\\n  -instances='a:b:c=tcp:5432' \"-credential_file=/s/k ey.json\" -dir=/a\\ b # why\n"}},
			wantArgv: []string{"/cloud_sql_proxy", "-instances=a:b:c=tcp:5432", "-credential_file=/s/k ey.json", "-dir=/a b"},
			wantAt:   []string{"c.command[2]", "c.command[2]", "c.command[2]", "c.command[2]"},
		},
		{
			name:     "double quotes keep backslashes before ordinary characters",
			c:        corev1.Container{Image: "x", Command: []string{"sh", "-c", `/cloud_sql_proxy "-token=a\b\"c\\"`}},
			wantArgv: []string{"/cloud_sql_proxy", `-token=a\b"c\`},
			wantAt:   []string{"c.command[2]", "c.command[2]"},
		},
		{
			name: "operators and expansions are refused, each named",
			c: corev1.Container{Image: "x", Command: []string{"sh", "-c",
				"/cloud_sql_proxy -instances=$INSTANCES -token=`cat /t` & wait; echo done | tee ~/log\nexit 0"}},
			wantErrs: []string{
				"Invalid value c.command[2]: -instances=$INSTANCES",
				"Invalid value c.command[2]: -token=`cat",
				"Invalid value c.command[2]: /t`",
				"Invalid value c.command[2]: &",
				"Invalid value c.command[2]: ;",
				"Invalid value c.command[2]: |",
				"Invalid value c.command[2]: ~/log",
				"Invalid value c.command[2]: newline",
			},
		},
		{
			name:     "expansions inside double quotes, none inside single quotes or after a backslash",
			c:        corev1.Container{Image: "x", Command: []string{"sh", "-c", `/cloud_sql_proxy '-token=$T' -dir=\$D "-instances=${I}"`}},
			wantErrs: []string{"Invalid value c.command[2]: -instances=${I}"},
		},
		{
			name:     "an assignment before the binary",
			c:        corev1.Container{Image: "x", Command: []string{"sh", "-c", "A=1 /cloud_sql_proxy -dir=/x"}},
			wantErrs: []string{"Invalid value c.command[2]: A=1"},
		},
		{
			name:     "parentheses and redirections",
			c:        corev1.Container{Image: "x", Command: []string{"sh", "-c", "(/cloud_sql_proxy -dir=/x) 2>&1"}},
			wantErrs: []string{"Invalid value c.command[2]: (", "Invalid value c.command[2]: )", "Invalid value c.command[2]: >&"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := Read(pathOf("c"), &tt.c)
			if diff := cmp.Diff(tt.wantArgv, cmd.Argv); diff != "" {
				t.Errorf("argv (-want +got):\n%s", diff)
			}
			var at []string
			for i := range cmd.Argv {
				at = append(at, cmd.At(i).String())
			}
			if diff := cmp.Diff(tt.wantAt, at); diff != "" {
				t.Errorf("paths (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantErrs, showErrs(cmd.Errs)); diff != "" {
				t.Errorf("errors (-want +got):\n%s\n%v", diff, cmd.Errs)
			}
		})
	}
}

func pathOf(root string) *field.Path { return field.NewPath(root) }
