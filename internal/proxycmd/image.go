package proxycmd

import (
	"path"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// The proxies' executables: v1 images put it at /cloud_sql_proxy and set no
// ENTRYPOINT (cloudsql-proxy v1.38.5 Dockerfile, Dockerfile.alpine); v2
// images at /cloud-sql-proxy with ENTRYPOINT ["/cloud-sql-proxy"]
// (cloud-sql-proxy v2.25.3 Dockerfile, Dockerfile.alpine).
const (
	// V1Binary is v1's executable name.
	V1Binary = "cloud_sql_proxy"
	// V2Binary is v2's executable name.
	V2Binary = "cloud-sql-proxy"
	// V2Entrypoint is v2 images' ENTRYPOINT, which runs when a container
	// gives no command.
	V2Entrypoint = "/cloud-sql-proxy"
)

func binaryGen(argv0 string) Generation {
	switch path.Base(argv0) {
	case V1Binary:
		return V1
	case V2Binary:
		return V2
	}
	return None
}

// ImageGeneration is the one test of whether an image is a proxy's, and
// which. It reads the generation from an image reference's last path
// element, so that every registry and mirror matches (gcr.io, us., eu. and
// asia.gcr.io, Artifact Registry, a private registry with a port), with any
// tag, variant or digest: v2 images are .../cloud-sql-connectors/cloud-sql-proxy,
// v1 images .../cloudsql-docker/gce-proxy. The repository's other
// elements are not checked because mirrors rename them; the element is
// compared without regard to case, as the kubelet would refuse a reference
// in capitals rather than run something else.
func ImageGeneration(image string) Generation {
	repo, _, _ := strings.Cut(image, "@")
	if i := strings.LastIndexByte(repo, ':'); i > strings.LastIndexByte(repo, '/') {
		repo = repo[:i]
	}
	switch strings.ToLower(repo[strings.LastIndexByte(repo, '/')+1:]) {
	case "cloud-sql-proxy":
		return V2
	case "gce-proxy":
		return V1
	}
	return None
}

// MayRun is a cheap test that lets through every container Detect finds a
// proxy in (by its image, or by a binary's name anywhere in its command or
// arguments, scripts included), so that a caller scanning a whole pod
// reads only those containers' commands.
func MayRun(c *corev1.Container) bool {
	if ImageGeneration(c.Image) != None {
		return true
	}
	has := func(s string) bool { return strings.Contains(s, V2Binary) || strings.Contains(s, V1Binary) }
	return slices.ContainsFunc(c.Command, has) || slices.ContainsFunc(c.Args, has)
}
