#!/usr/bin/env bash
# Installs, from Debian's own packages, what the end-to-end tier's real node (test/support/node.ts) and its
# images (hack/images/build.sh) need on this machine: containerd and runc, the CNI plugins, buildah and
# debootstrap for the images, gcc with a static libc for the sandbox image's pause binary, iproute2 for the
# pod bridge and the Services' network namespace, iptables and conntrack for kube-proxy (iptables mode).
# Packages already installed are left alone. Needs root.
set -euo pipefail

packages=(containerd runc containernetworking-plugins buildah debootstrap gcc libc6-dev iproute2 openssl iptables conntrack)

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "node runtime packages: installed" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Installing containerd may start it as a service where an init system runs; the tests start their own, with
# their own socket, and need none.
echo "node runtime packages: installed ${missing[*]}" >&2
