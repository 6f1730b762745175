#!/usr/bin/env bash
# Builds the GitOps clients the end-to-end tier deploys with, as users of sluice do: helm (v4, from its Go
# module) and flux-apply (./flux-apply: Flux's server-side applier, the library kustomize-controller applies
# with, driven from the command line). The binaries go to $SLUICE_GITOPS_CACHE/<key>/ (default
# ~/.cache/sluice-gitops), never into the repository; <key> is a hash of this script and flux-apply's sources,
# so a change to either builds anew, and a complete entry is reused as is (test/support/gitops.ts computes the
# same key). Prints that directory on the last line of stdout.
#
# The build runs at the lowest CPU priority, like hack/k8s/build.sh: it must not starve whatever else the
# machine is running.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v go >/dev/null; then
  echo "hack/gitops/build.sh needs Go (flux-apply/go.mod asks for 1.26 or newer) on PATH" >&2
  exit 1
fi

helm_version=v4.3.2
binaries=(helm flux-apply)

# Keep the file list in step with gitopsBinDir() in test/support/gitops.ts.
key="$(cat build.sh flux-apply/go.mod flux-apply/go.sum flux-apply/main.go | sha256sum | cut -c1-12)"
cache="${SLUICE_GITOPS_CACHE:-$HOME/.cache/sluice-gitops}"
out="$cache/$key"

cached=true
for bin in "${binaries[@]}"; do
  [ -x "$out/$bin" ] || cached=false
done
if $cached; then
  echo "gitops clients (helm $helm_version, flux-apply): cached" >&2
  echo "$out"
  exit 0
fi

# Built into a fresh directory that replaces the cache entry only when complete, so an interrupted build is
# never mistaken for a cached one.
mkdir -p "$cache"
staging="$(mktemp -d "$cache/.build-$key.XXXXXX")"
trap 'rm -rf "$staging"' EXIT

start=$SECONDS
echo "gitops clients: building helm $helm_version and flux-apply (cold: minutes on 2 cores)" >&2
# helm has its own module graph; go install resolves it outside any module. Unstamped, `helm version` says
# only "v4.3" (the release's Makefile stamps the full version the same way).
(cd "$staging" && GOBIN="$staging" CGO_ENABLED=0 GOFLAGS=-trimpath nice -n 19 \
  go install -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$helm_version \
    -X helm.sh/helm/v4/internal/version.gitTreeState=clean" "helm.sh/helm/v4/cmd/helm@$helm_version")
# flux-apply builds from its committed go.mod and go.sum only (-mod=readonly): nothing is resolved anew.
(cd flux-apply && CGO_ENABLED=0 nice -n 19 go build -mod=readonly -trimpath -ldflags "-s -w" \
  -o "$staging/flux-apply" .)

rm -rf "$out"
mv "$staging" "$out"
trap - EXIT
echo "gitops clients: built in $((SECONDS - start)) s" >&2
echo "$out"
