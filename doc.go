// Package cloudsqlproxy builds the [Cloud SQL Auth Proxy] (v2) container
// for a Kubernetes pod and attaches it correctly, so that applications on
// GKE reach Cloud SQL through 127.0.0.1 without racing the proxy at startup.
//
//	p, err := cloudsqlproxy.New("my-project:us-central1:db")
//	if err != nil { ... }
//	err = p.Attach(&deployment.Spec.Template.Spec)
//
// # Modes
//
// By default the proxy runs as a native sidecar (Kubernetes 1.29 and newer):
// the first init container, with restartPolicy Always and a startup probe on
// the proxy's own health server. The kubelet starts nothing else in the pod
// until that probe passes, so migrations in later init containers and the
// application find the database listening. In a Job the kubelet stops the
// sidecar once the Job's containers are done.
//
// [WithLegacySidecar] is for older clusters or clusters with the
// SidecarContainers gate off: the proxy is the first regular container and
// a postStart hook holds back the next containers until it has started.
// [ForJob] is for Jobs on such clusters: the application, or an optional
// timeout, stops the proxy so the Job completes.
//
// # What the container looks like
//
// The proxy listens on 127.0.0.1 (port 5432 for the first instance), serves
// health checks on 0.0.0.0:9801 for the kubelet, declared as the named port
// [HealthPortName], logs JSON, exits 0 on SIGTERM, and runs as a non-root
// user with a read-only root file system and no capabilities, which meets
// Pod Security "restricted". Every flag gets an explicit value where the
// proxy's default would need the SQL Admin API (ports) or would not work in
// a pod (health address). A "$" in a value is written as "$$", since the
// kubelet would otherwise expand "$(NAME)" in arguments and environment
// values. Each option's documentation gives its default.
//
// # Errors
//
// [New] validates all options together and reports every problem in one
// error that wraps [ErrInvalidConfig]; the field errors inside name the
// option and the value. [Proxy.Attach] checks the pod before changing it and
// reports clashes wrapped in [ErrConflict]; on any error the PodSpec is left
// untouched. Use [errors.Is] on the sentinel errors, and [errors.As] with an
// [k8s.io/apimachinery/pkg/util/errors.Aggregate] for the list.
//
// [Cloud SQL Auth Proxy]: https://cloud.google.com/sql/docs/postgres/sql-proxy
package cloudsqlproxy
