#!/usr/bin/env bash
# Builds the end-to-end tier's control plane from Go modules: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler and kubectl from the versions pinned in go.mod, and kwok. The binaries go to
# $SLUICE_K8S_CACHE/<kubernetes version>/ (default ~/.cache/sluice-k8s), never into the repository; a complete
# cache entry is reused as is. Prints that directory on the last line of stdout.
#
# The build runs at the lowest CPU priority: it takes a long time cold and must not starve whatever else the
# machine is running.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v go >/dev/null; then
  echo "hack/k8s/build.sh needs Go (go.mod asks for 1.26 or newer) on PATH" >&2
  exit 1
fi

kwok_version=v0.7.0
binaries=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok)

version="$(go list -m -f '{{.Version}}' k8s.io/kubernetes)"
cache="${SLUICE_K8S_CACHE:-$HOME/.cache/sluice-k8s}"
out="$cache/$version"

cached=true
for bin in "${binaries[@]}"; do
  [ -x "$out/$bin" ] || cached=false
done
if $cached; then
  echo "control plane $version: cached" >&2
  echo "$out"
  exit 0
fi

# The release's own date (from the module proxy) rather than now, so a rebuild reports the same version. The
# module holds no git metadata, so the commit is left empty rather than as the unexpanded placeholder.
build_date="$(go list -m -f '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' k8s.io/kubernetes)"
minor="${version#v1.}"
minor="${minor%%.*}"
ldflags=(-s -w)
for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
  ldflags+=(
    -X "$pkg.gitVersion=$version"
    -X "$pkg.gitMajor=1"
    -X "$pkg.gitMinor=$minor"
    -X "$pkg.gitCommit="
    -X "$pkg.gitTreeState=clean"
    -X "$pkg.buildDate=${build_date:-1970-01-01T00:00:00Z}"
  )
done

# Built into a fresh directory that replaces the cache entry only when complete, so an interrupted build is
# never mistaken for a cached one.
mkdir -p "$cache"
staging="$(mktemp -d "$cache/.build-$version.XXXXXX")"
trap 'rm -rf "$staging"' EXIT

start=$SECONDS
echo "control plane $version: building (cold: tens of minutes on 2 cores)" >&2
CGO_ENABLED=0 nice -n 19 go build -trimpath -ldflags "${ldflags[*]}" -o "$staging/" \
  ./etcd \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler \
  k8s.io/kubernetes/cmd/kubectl
# kwok has its own module graph; go install resolves it outside this module.
(cd "$staging" && GOBIN="$staging" CGO_ENABLED=0 GOFLAGS=-trimpath nice -n 19 go install "sigs.k8s.io/kwok/cmd/kwok@$kwok_version")

rm -rf "$out"
mv "$staging" "$out"
trap - EXIT
echo "control plane $version: built in $((SECONDS - start)) s" >&2
echo "$out"
