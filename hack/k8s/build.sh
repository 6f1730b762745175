#!/usr/bin/env bash
# Builds the end-to-end tier's control plane from Go modules: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler and kubectl from the versions pinned in go.mod, and kwok. The binaries go to
# $SLUICE_K8S_CACHE/<kubernetes version>/ (default ~/.cache/sluice-k8s), never into the repository; a complete
# cache entry is reused as is. Prints that directory on the last line of stdout.
#
# The real node's kubelet and kube-proxy (test/support/node.ts), from the same module, go to the node/
# subdirectory of that entry and are cached on their own: a control plane built before them stays valid.
# So does its cluster DNS (test/support/node-network.ts), in dns/: CoreDNS with only the plugins the tests use,
# from the small module in ./coredns, named in dns/ by the CoreDNS version and a key of that module's files.
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

node_binaries=(kubelet kube-proxy)

coredns_version="$(cd coredns && go list -m -f '{{.Version}}' github.com/coredns/coredns)"
dns_key="$coredns_version-$(cat coredns/go.mod coredns/go.sum coredns/main.go | sha256sum | cut -c1-12)"

complete() {
  local dir="$1" bin
  shift
  for bin in "$@"; do
    [ -x "$dir/$bin" ] || return 1
  done
}

control_plane_cached=false
node_cached=false
dns_cached=false
complete "$out" "${binaries[@]}" && control_plane_cached=true
complete "$out/node" "${node_binaries[@]}" && node_cached=true
complete "$out/dns" coredns && [ -e "$out/dns/$dns_key" ] && dns_cached=true
if $control_plane_cached && $node_cached && $dns_cached; then
  echo "control plane, node and DNS $version: cached" >&2
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

# Each part is built into a fresh directory that replaces its cache entry only when complete, so an
# interrupted build is never mistaken for a cached one.
mkdir -p "$cache"
staging=""
trap '[ -z "$staging" ] || rm -rf "$staging"' EXIT

if ! $control_plane_cached; then
  staging="$(mktemp -d "$cache/.build-$version.XXXXXX")"
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
  # A node (and its DNS) built for the previous entry moves over: it comes from the same module version.
  [ -d "$out/node" ] && mv "$out/node" "$staging/node"
  [ -d "$out/dns" ] && mv "$out/dns" "$staging/dns"
  rm -rf "$out"
  mv "$staging" "$out"
  staging=""
  echo "control plane $version: built in $((SECONDS - start)) s" >&2
fi

if ! $node_cached; then
  staging="$(mktemp -d "$cache/.build-$version-node.XXXXXX")"
  start=$SECONDS
  echo "node $version: building kubelet and kube-proxy (minutes with the control plane's build cache)" >&2
  CGO_ENABLED=0 nice -n 19 go build -trimpath -ldflags "${ldflags[*]}" -o "$staging/" \
    k8s.io/kubernetes/cmd/kubelet \
    k8s.io/kubernetes/cmd/kube-proxy
  rm -rf "$out/node"
  mv "$staging" "$out/node"
  staging=""
  echo "node $version: built in $((SECONDS - start)) s" >&2
fi

if ! $dns_cached; then
  staging="$(mktemp -d "$cache/.build-$version-dns.XXXXXX")"
  start=$SECONDS
  echo "DNS: building CoreDNS $coredns_version with the plugins in coredns/main.go (minutes cold)" >&2
  # From its committed go.mod and go.sum only (-mod=readonly), like flux-apply; the empty file names what the
  # entry holds.
  (cd coredns && CGO_ENABLED=0 nice -n 19 go build -mod=readonly -trimpath -ldflags '-s -w' \
    -o "$staging/coredns" .)
  touch "$staging/$dns_key"
  rm -rf "$out/dns"
  mv "$staging" "$out/dns"
  staging=""
  echo "DNS: built in $((SECONDS - start)) s" >&2
fi

echo "$out"
