#!/usr/bin/env bash
# Builds the container images the end-to-end tier's real node runs (test/support/node.ts), without any
# container registry:
#
#   pause    the sandbox image: pause.c from the pinned k8s.io/kubernetes module, linked statically
#   podinfo  the sample app: podinfo's static binary, built from its Go module, alone in its image
#   sluice   the repository's own Dockerfile, built on a Node.js base assembled here from Debian's minimal
#            root filesystem (debootstrap), the Node.js binary from hack/node/install.sh and npm's package
#
# Usage: hack/images/build.sh [podinfo] [sluice]   (both by default; the pause image always)
#
# Each image is written as an OCI archive to $SLUICE_IMAGES_CACHE (default ~/.cache/sluice-images), named by
# a key of its inputs, and reused while the key holds; buildah's storage lives there too. Prints one line per
# image on stdout, "<image reference> <archive path>", for `ctr -n k8s.io image import`.
#
# Needs root, buildah, debootstrap, gcc with a static libc, Go and npm. Runs at the lowest CPU priority.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"

podinfo_module=github.com/stefanprodan/podinfo
# The commit podinfo 6.9.2 was tagged from, as a pseudo-version of its module (the tag itself is not a
# valid module version for podinfo's go.mod).
podinfo_version=v1.8.1-0.20250910200901-e86405a8674e
podinfo_tag=6.9.2
node_major=26
# npm for the base image, with the integrity the registry gave when it was pinned (`npm view npm@<v>
# dist.integrity`); Node.js's own npm is not in hack/node/install.sh's package.
npm_version=11.19.1
npm_integrity=sha512-ztsxKxt/kkIaAs+2i0GU6I+DRmUdrNasxTZKJe9TCdSjKxlhah/4r/hl5ygMD6XAg1qZ9c2TNomR4qgOydp10g==
debian_suite=bookworm
# Beyond minbase: what the Node.js binary links against.
debian_include=libatomic1

wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(podinfo sluice)
want() { [[ " ${wanted[*]} " == *" $1 "* ]]; }

for tool in buildah debootstrap gcc go npm sha256sum; do
  if ! command -v "$tool" >/dev/null; then
    echo "hack/images/build.sh needs $tool on PATH" >&2
    exit 1
  fi
done

cache="${SLUICE_IMAGES_CACHE:-$HOME/.cache/sluice-images}"
mkdir -p "$cache"
work="$(mktemp -d "$cache/.work.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# buildah keeps its layers under the cache (vfs: no overlay mounts to clean up) and its run state in the
# work dir; chroot isolation and the host's network, since no other runtime or network is configured for it.
buildah_() {
  nice -n 19 buildah --root "$cache/buildah" --runroot "$work/run" --storage-driver vfs "$@"
}
export BUILDAH_ISOLATION=chroot

key() { sha256sum | cut -c1-16; }

# Writes an OCI archive of a single-layer image holding the files of $2 (a directory) at /.
single_layer_image() {
  local ref="$1" rootfs="$2" archive="$3" ctr
  shift 3
  ctr="$(buildah_ from scratch)"
  buildah_ copy --quiet "$ctr" "$rootfs" / >/dev/null
  buildah_ config "$@" "$ctr"
  buildah_ commit --quiet --format oci --rm "$ctr" "$ref" >/dev/null
  buildah_ push --quiet "$ref" "oci-archive:$archive.tmp:$ref"
  buildah_ rmi "$ref" >/dev/null
  mv "$archive.tmp" "$archive"
}

k8s_version="$(cd "$repo/hack/k8s" && go list -m -f '{{.Version}}' k8s.io/kubernetes)"
k8s_dir="$(cd "$repo/hack/k8s" && go list -m -f '{{.Dir}}' k8s.io/kubernetes)"

# pause
pause_ref="localhost/sluice-test/pause:$k8s_version"
pause_archive="$cache/pause-$k8s_version.tar"
if [ ! -s "$pause_archive" ]; then
  start=$SECONDS
  mkdir -p "$work/pause"
  gcc -Os -static -DVERSION="$k8s_version" -o "$work/pause/pause" "$k8s_dir/build/pause/linux/pause.c"
  strip "$work/pause/pause"
  single_layer_image "$pause_ref" "$work/pause" "$pause_archive" --entrypoint '["/pause"]' --user 65535:65535
  echo "pause image: built in $((SECONDS - start)) s" >&2
fi
echo "$pause_ref $pause_archive"

# podinfo
if want podinfo; then
  podinfo_ref="localhost/sluice-test/podinfo:$podinfo_tag"
  podinfo_archive="$cache/podinfo-$podinfo_version.tar"
  if [ ! -s "$podinfo_archive" ]; then
    start=$SECONDS
    mkdir -p "$work/podinfo/bin"
    # Outside any module, so that podinfo's own go.mod decides its dependencies.
    (cd "$work" && GOBIN="$work/podinfo/bin" CGO_ENABLED=0 GOFLAGS=-trimpath nice -n 19 \
      go install -ldflags '-s -w' "$podinfo_module/cmd/podinfo@$podinfo_version")
    single_layer_image "$podinfo_ref" "$work/podinfo" "$podinfo_archive" \
      --entrypoint '["/bin/podinfo"]' --cmd '["--port=9898"]' --port 9898 --user 65532:65532
    echo "podinfo image: built in $((SECONDS - start)) s" >&2
  fi
  echo "$podinfo_ref $podinfo_archive"
fi

want sluice || exit 0

# The Node.js base, kept in buildah's storage only (the sluice build is its one user).
node_bin="$("$repo/hack/node/install.sh" "$node_major" | tail -n 1)"
node_version="$("$node_bin/node" --version)"
# A machine whose TLS traffic passes a proxy of its own gives Node.js that proxy's CA in NODE_EXTRA_CA_CERTS;
# the base trusts the same bundle, or `npm ci` in the Dockerfile cannot reach the registry.
extra_ca=""
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ] && [ -s "$NODE_EXTRA_CA_CERTS" ]; then
  extra_ca="$NODE_EXTRA_CA_CERTS"
fi
base_key="$({
  echo "$debian_include"
  [ -z "$extra_ca" ] || sha256sum <"$extra_ca"
} | key)"
base_ref="localhost/sluice-test/node-base:${node_version#v}-npm$npm_version-$debian_suite-$base_key"
if ! buildah_ inspect --type image "$base_ref" >/dev/null 2>&1; then
  start=$SECONDS
  rootfs="$work/base"
  nice -n 19 debootstrap --variant=minbase --include="$debian_include" "$debian_suite" "$rootfs" >"$work/debootstrap.log" 2>&1 || {
    tail -n 20 "$work/debootstrap.log" >&2
    exit 1
  }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  install -D -m 0755 "$node_bin/node" "$rootfs/usr/local/bin/node"
  (cd "$work" && npm pack --silent "npm@$npm_version" >/dev/null)
  actual="sha512-$(openssl dgst -sha512 -binary "$work/npm-$npm_version.tgz" | base64 -w0)"
  if [ "$actual" != "$npm_integrity" ]; then
    echo "npm-$npm_version.tgz: integrity $actual, pinned $npm_integrity" >&2
    exit 1
  fi
  mkdir -p "$rootfs/usr/local/lib/node_modules/npm"
  tar -xzf "$work/npm-$npm_version.tgz" -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  base_env=(--env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
  if [ -n "$extra_ca" ]; then
    install -D -m 0644 "$extra_ca" "$rootfs/usr/local/share/sluice-test/extra-ca.pem"
    base_env+=(--env NODE_EXTRA_CA_CERTS=/usr/local/share/sluice-test/extra-ca.pem)
  fi
  ctr="$(buildah_ from scratch)"
  # The root filesystem goes in as one tar stream, which keeps its device nodes, owners and links.
  tar -C "$rootfs" -cf "$work/base.tar" .
  rm -rf "$rootfs"
  buildah_ add --quiet "$ctr" "$work/base.tar" / >/dev/null
  buildah_ config "${base_env[@]}" --cmd '["node"]' "$ctr"
  buildah_ commit --quiet --format oci --rm "$ctr" "$base_ref" >/dev/null
  echo "node base image: built in $((SECONDS - start)) s" >&2
fi

# sluice, keyed by the base and every file the Dockerfile copies.
sluice_key="$(
  cd "$repo"
  {
    echo "$base_ref"
    git ls-files -z -- Dockerfile package.json package-lock.json tsconfig.json tsconfig.build.json src webhook proxy bin |
      xargs -0 sha256sum
  } | key
)"
sluice_version="$(node -p 'require(process.argv[1]).version' "$repo/package.json")"
sluice_ref="localhost/sluice-test/sluice:$sluice_version-$sluice_key"
sluice_archive="$cache/sluice-$sluice_key.tar"
if [ ! -s "$sluice_archive" ]; then
  start=$SECONDS
  # Only the files the key covers: a build context of the tracked files, so local leftovers never leak in.
  mkdir -p "$work/context"
  (cd "$repo" && git ls-files -z -- Dockerfile package.json package-lock.json tsconfig.json tsconfig.build.json \
    src webhook proxy bin | xargs -0 cp --parents -t "$work/context")
  buildah_ build --quiet --pull=never --network host --layers=false --format oci \
    --build-arg "NODE_IMAGE=$base_ref" -t "$sluice_ref" "$work/context" >/dev/null
  buildah_ push --quiet "$sluice_ref" "oci-archive:$sluice_archive.tmp:$sluice_ref"
  mv "$sluice_archive.tmp" "$sluice_archive"
  buildah_ rmi "$sluice_ref" >/dev/null
  echo "sluice image: built in $((SECONDS - start)) s" >&2
fi
echo "$sluice_ref $sluice_archive"
