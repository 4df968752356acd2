#!/usr/bin/env bash
# Builds the offline base image of the runner images: a Debian root file system made by debootstrap
# from Debian's packages, imported into Docker. Used where no container registry is reachable.
# Usage: build-base.sh IMAGE_TAG [SUITE]   (cached: does nothing when the image exists)
set -euo pipefail
tag=${1:-grader-base:bookworm}
suite=${2:-bookworm}
mirror=${GRADER_DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${GRADER_BASE_CACHE:-/var/cache/grader}

if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "[base] $tag already present"
  exit 0
fi
mkdir -p "$cache"
tarball="$cache/base-$suite.tar"
if [ ! -s "$tarball" ]; then
  command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
  root=$(mktemp -d "$cache/rootfs.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  echo "[base] debootstrap $suite into $root (a few minutes the first time)"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates "$suite" "$root" "$mirror" \
    >"$cache/debootstrap.log" 2>&1 || { tail -n 30 "$cache/debootstrap.log" >&2; exit 1; }
  # Trim what a sandbox never needs; keeps the image small and the import fast.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* \
    "$root"/usr/share/man/* "$root"/usr/share/locale/*
  tar -C "$root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
fi
echo "[base] importing $tarball as $tag"
docker import --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' "$tarball" "$tag" >/dev/null
echo "[base] $tag ready"
