#!/usr/bin/env bash
# Builds Flagger's load tester, the gate server the end-to-end tier holds releases with (its /gate/* and
# /rollback/* endpoints speak Flagger's webhook contract, which sluice.dev/webhooks follows), from its Go
# module, as Flagger users run it. The binary goes to $SLUICE_LOADTESTER_CACHE/<key>/ (default
# ~/.cache/sluice-loadtester), never into the repository; <key> is a hash of this script, so a change to it
# builds anew, and a complete entry is reused as is (test/support/loadtester.ts computes the same key).
# Prints that directory on the last line of stdout.
#
# The build runs at the lowest CPU priority, like hack/k8s/build.sh: it must not starve whatever else the
# machine is running.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v go >/dev/null; then
  echo "hack/loadtester/build.sh needs Go (Flagger v1.36 asks for 1.22 or newer) on PATH" >&2
  exit 1
fi

version=v1.36.1

# Keep the file list in step with loadtesterBinDir() in test/support/loadtester.ts.
key="$(sha256sum build.sh | cut -c1-12)"
cache="${SLUICE_LOADTESTER_CACHE:-$HOME/.cache/sluice-loadtester}"
out="$cache/$key"

if [ -x "$out/loadtester" ]; then
  echo "flagger load tester $version: cached" >&2
  echo "$out"
  exit 0
fi

# Built into a fresh directory that replaces the cache entry only when complete, so an interrupted build is
# never mistaken for a cached one.
mkdir -p "$cache"
staging="$(mktemp -d "$cache/.build-$key.XXXXXX")"
trap 'rm -rf "$staging"' EXIT

start=$SECONDS
echo "flagger load tester: building $version (cold: minutes on 2 cores)" >&2
# go install resolves the module's own graph outside any module.
(cd "$staging" && GOBIN="$staging" CGO_ENABLED=0 GOFLAGS=-trimpath nice -n 19 \
  go install -ldflags "-s -w" "github.com/fluxcd/flagger/cmd/loadtester@$version")

rm -rf "$out"
mv "$staging" "$out"
trap - EXIT
echo "flagger load tester: built in $((SECONDS - start)) s" >&2
echo "$out"
