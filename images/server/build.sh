#!/bin/sh
# Builds the mailu-git server image from a binary built on this machine:
#   images/server/build.sh [--binary PATH] [--base IMAGE] [--tag TAG]
# Defaults: target/release/mailu-git, mailu-git/bookworm:latest (images/bookworm/build.sh makes it),
# mailu-git/server:latest. The build context holds only the Dockerfile and the binary. Prints the
# image reference on stdout; progress on stderr. Exit 0 built, 1 failed, 2 bad usage.
set -eu

me=build.sh
say() { printf '%s: %s\n' "$me" "$*" >&2; }
here=$(cd "$(dirname "$0")" && pwd)
binary=$here/../../target/release/mailu-git
base=mailu-git/bookworm:latest
tag=mailu-git/server:latest

while [ $# -gt 0 ]; do
  case $1 in
    --binary) binary=${2:?--binary needs a path}; shift 2 ;;
    --base) base=${2:?--base needs an image}; shift 2 ;;
    --tag) tag=${2:?--tag needs a name}; shift 2 ;;
    -h | --help)
      echo "usage: $me [--binary PATH] [--base IMAGE] [--tag TAG]"
      exit 0
      ;;
    *)
      say "error: unknown argument '$1'"
      exit 2
      ;;
  esac
done

[ -x "$binary" ] || { say "error: no executable at $binary (cargo build --release first)"; exit 1; }
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp "$here/Dockerfile" "$context/Dockerfile"
cp "$binary" "$context/mailu-git"
say "building $tag on $base from $binary"
docker build --quiet --build-arg "BASE=$base" --label org.mailu-git.image=server \
  --tag "$tag" "$context" >&2
echo "$tag"
