#!/usr/bin/env bash
# Builds the real systems the e2e tier runs against into a cache, from source, with nothing
# but the Go toolchain and the Go module proxy:
#   cloud-sql-proxy  the exact release the library defaults to (go install <module>@<version>,
#                    so its dependencies are the release's own, not this module's)
#   etcd             the version k8s.io/kubernetes pins, via the tool directive in e2e/go.mod
#   kube-apiserver   the k8s.io/kubernetes version in e2e/go.mod
#   kubelet          the same version, same module (it shares kube-apiserver's compile cache);
#                    for the kubelet tier
# Idempotent: a binary already in the cache is kept. The tests call this script themselves
# for whatever is missing, so running it first only makes the build times visible.
#
# Usage: e2e/build-real-systems.sh [proxy] [etcd] [kube-apiserver] [kubelet]
#        (default: the first three; the kubelet tier asks for the kubelet itself)
# Env:   CLOUDSQLPROXY_E2E_CACHE          cache root (default $HOME/.cache/cloudsqlproxy-e2e)
#        CLOUDSQLPROXY_E2E_PROXY_VERSION  proxy version, e.g. 2.25.3 (default: the library's
#                                         DefaultVersion)
# Prints one line per component: "<component> <version> <path> <built|cached> <seconds>s".
set -euo pipefail

cd "$(dirname "$0")"
cache=${CLOUDSQLPROXY_E2E_CACHE:-$HOME/.cache/cloudsqlproxy-e2e}
mkdir -p "$cache"

components=("$@")
if [ ${#components[@]} -eq 0 ]; then
	components=(proxy etcd kube-apiserver)
fi

proxy_version=${CLOUDSQLPROXY_E2E_PROXY_VERSION:-}
k8s_version=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
etcd_version=$(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)

# One lock per component keeps two concurrent callers (a developer's shell and a test run)
# from building the same binary twice or reading a half-written one.
build() {
	local component=$1 version=$2 name=$3
	local dir="$cache/$name-$version"
	local bin="$dir/$name"
	mkdir -p "$dir"
	exec {lock}>"$dir/.lock"
	flock "$lock"
	local start=$SECONDS state=cached
	if [ ! -x "$bin" ]; then
		state=built
		local tmp
		tmp=$(mktemp -d "$dir/.build.XXXXXX")
		# shellcheck disable=SC2064
		trap "rm -rf '$tmp'" RETURN
		case $component in
		proxy)
			GOBIN="$tmp" go install "github.com/GoogleCloudPlatform/cloud-sql-proxy/v2@$version"
			mv "$tmp/cloud-sql-proxy" "$bin"
			;;
		etcd)
			go build -o "$tmp/etcd" go.etcd.io/etcd/server/v3
			mv "$tmp/etcd" "$bin"
			;;
		kube-apiserver | kubelet)
			# The version stamp is what `make` would set; without it the binary reports
			# v0.0.0-master. Feature defaults follow the binary's built-in 1.x version either way.
			# Both build with the same environment so that the packages they share (most of
			# k8s.io/kubernetes) compile once into the Go build cache.
			local minor=${version#v1.}
			minor=${minor%%.*}
			go build -o "$tmp/$name" -ldflags "\
-X k8s.io/component-base/version.gitVersion=$version \
-X k8s.io/component-base/version.gitMajor=1 \
-X k8s.io/component-base/version.gitMinor=$minor \
-X k8s.io/component-base/version.gitTreeState=clean" \
				"k8s.io/kubernetes/cmd/$name"
			mv "$tmp/$name" "$bin"
			;;
		esac
	fi
	flock -u "$lock"
	exec {lock}>&-
	echo "$component $version $bin $state $((SECONDS - start))s"
}

for c in "${components[@]}"; do
	case $c in
	proxy)
		if [ -z "$proxy_version" ]; then
			proxy_version=$(go run ./internal/proxyversion)
		fi
		build proxy "v${proxy_version#v}" cloud-sql-proxy
		;;
	etcd) build etcd "$etcd_version" etcd ;;
	kube-apiserver) build kube-apiserver "$k8s_version" kube-apiserver ;;
	kubelet) build kubelet "$k8s_version" kubelet ;;
	*)
		echo "unknown component $c (want proxy, etcd, kube-apiserver or kubelet)" >&2
		exit 2
		;;
	esac
done
