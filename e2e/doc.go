// Package e2e proves the PodSpecs built by github.com/podspec/cloudsqlproxy against the
// real systems they are meant for: the Cloud SQL Auth Proxy binary, the Kubernetes API
// server's own validation code, Pod Security "restricted", and a real kube-apiserver with
// etcd. It is a separate module so the library's importers never inherit its dependencies.
package e2e
