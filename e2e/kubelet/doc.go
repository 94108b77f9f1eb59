// Package kubelet is the kubelet tier of the e2e module: it runs the library's pods on a
// real kubelet (standalone, static pods) over a real containerd, runc and CNI bridge, with
// the real Cloud SQL Auth Proxy binary, and proves the start and stop order the library
// promises. Its tests need root and a kernel with bridge support; they run only when
// CLOUDSQLPROXY_E2E_KUBELET=1 (as .ci/run sets it), and then fail, never skip, on a
// machine where the tier cannot run. See ../README.md, "The kubelet tier".
package kubelet
