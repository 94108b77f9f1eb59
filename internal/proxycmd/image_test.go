package proxycmd

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestImageGeneration covers every image the library's three former
// image tests (this one, Attach's isProxyImage and its mayRunProxy
// prefilter) told apart, so that the one test left answers each as the
// test that decided it did: proxy images on any registry, tag, variant or
// digest; names that only contain a proxy's name; and references no
// registry accepts (capitals, a trailing slash), where the three disagreed.
func TestImageGeneration(t *testing.T) {
	const digest = "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, tt := range []struct {
		image string
		want  Generation
	}{
		{"gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.25.3", V2},
		{"gcr.io/cloud-sql-connectors/cloud-sql-proxy", V2},
		{"eu.gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.25.3-alpine", V2},
		{"gcr.io/cloud-sql-connectors/cloud-sql-proxy" + digest, V2},
		{"gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.25.3" + digest, V2},
		{"us-docker.pkg.dev/my-project/mirror/cloud-sql-proxy:2", V2},
		{"registry.local:5000/cloud-sql-proxy", V2},
		{"registry.local:5000/cloud-sql-proxy:2.25.3", V2},
		{"cloud-sql-proxy", V2},
		{"cloud-sql-proxy:latest", V2},
		{"gcr.io/cloudsql-docker/gce-proxy:1.38.5", V1},
		{"gcr.io/cloudsql-docker/gce-proxy:1.33.2-alpine", V1},
		{"gcr.io/cloudsql-docker/gce-proxy" + digest, V1},
		{"gce-proxy", V1},
		// Capitals: not a valid reference; read as the proxy it names, as
		// detection always did (Attach's checks were case-sensitive).
		{"gcr.io/cloud-sql-connectors/CLOUD-SQL-PROXY:2", V2},
		{"gcr.io/cloudsql-docker/GCE-Proxy:1", V1},
		// Containing a proxy's name is not being its image.
		{"gcr.io/cloud-sql-connectors/cloud-sql-proxy-operator:1.8.1", None},
		{"example.com/cloud-sql-proxy-exporter:1", None},
		{"example.com/cloud-sql-proxy/app:1", None},
		{"example.com/my-gce-proxy:1", None},
		{"example.com/gce-proxy-fork:1", None},
		{"example.com/cloud_sql_proxy:1", None},
		{"registry.local:5000", None},
		// A trailing slash: not a valid reference (isProxyImage's path.Base
		// read it as the proxy).
		{"gcr.io/cloud-sql-connectors/cloud-sql-proxy/", None},
		{"postgres:16", None},
		{"", None},
	} {
		if got := ImageGeneration(tt.image); got != tt.want {
			t.Errorf("ImageGeneration(%q) = %v, want %v", tt.image, got, tt.want)
		}
		if got := MayRun(&corev1.Container{Image: tt.image}); got != (tt.want != None) {
			t.Errorf("MayRun(image %q) = %v, want %v", tt.image, got, tt.want != None)
		}
	}
}

// TestMayRun: beside the image, a proxy binary's name anywhere in the
// command or arguments lets a container through to Detect.
func TestMayRun(t *testing.T) {
	for _, tt := range []struct {
		name string
		c    corev1.Container
		want bool
	}{
		{"v2 binary", corev1.Container{Image: "example.com/tools", Command: []string{"/usr/bin/cloud-sql-proxy"}}, true},
		{"v1 binary in args", corev1.Container{Image: "example.com/tools", Command: []string{"tini", "--"}, Args: []string{"/cloud_sql_proxy", "-instances=p:r:i"}}, true},
		{"in a script", corev1.Container{Image: "busybox", Command: []string{"sh", "-c", "exec /cloud-sql-proxy p:r:i"}}, true},
		{"mentioned only", corev1.Container{Image: "postgres:16", Command: []string{"psql", "-h", "cloud-sql-proxy"}}, true},
		{"unrelated", corev1.Container{Image: "postgres:16", Command: []string{"psql", "-h", "db"}}, false},
		{"empty", corev1.Container{}, false},
	} {
		if got := MayRun(&tt.c); got != tt.want {
			t.Errorf("%s: MayRun = %v, want %v", tt.name, got, tt.want)
		}
	}
}
