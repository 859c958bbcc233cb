#!/usr/bin/env bash
# Builds the test image: a root file system holding the static test logger
# (test/logger) as /logger, its ENTRYPOINT, plus Debian's static busybox as
# /bin/busybox, /bin/sh and the other applets as links to it when
# /usr/bin/busybox exists (so that `docker run --entrypoint /bin/sh IMG -c
# '...'` and `docker exec C sh -c '...'` work). No registry is
# reachable, so the image is made with `docker import`.
#
# Usage: test/scripts/test-image.sh        (prints the image name on success)
# Env:   TEST_IMAGE  image name, default docker-logs-test:latest
#
# The image is also tagged <repo>:<first 12 hex of the sha256 of the root
# file system tar> (which is reproducible) and labelled with that sha256 and
# the logger binary's. If that tag exists already, the import is skipped and
# only the name tag is (re)pointed at it, so re-running is cheap (the Go build
# is cached).
set -euo pipefail

image=${TEST_IMAGE:-docker-logs-test:latest}
# The repository part: strip a tag (a ":" after the last "/"), keep a
# registry port.
repo=$image
last=${image##*/}
if [[ $last == *:* ]]; then
  repo=${image%:*}
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/docker-logs-test-image.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$tmp/rootfs/bin"
(cd "$root" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' \
  -o "$tmp/rootfs/logger" ./test/logger)

busybox=/usr/bin/busybox
if [[ -x $busybox ]]; then
  cp "$busybox" "$tmp/rootfs/bin/busybox"
  ln -s busybox "$tmp/rootfs/bin/sh"
  # Links for the other applets too, so that `docker exec C ls` and
  # `--entrypoint sleep` work as well.
  for applet in $("$busybox" --list); do
    [[ $applet == */* || -e $tmp/rootfs/bin/$applet ]] ||
      ln -s busybox "$tmp/rootfs/bin/$applet"
  done
fi

# A reproducible tar (fixed owner, mode bits from the files, time 0, sorted
# names): its hash names the content, the logger binary (reproducible with
# -trimpath) and busybox with its links.
tar -C "$tmp/rootfs" --sort=name --owner=0 --group=0 --numeric-owner \
  --mtime=@0 -cf "$tmp/rootfs.tar" .
sum=$(sha256sum <"$tmp/rootfs.tar")
sum=${sum%% *}
logger_sum=$(sha256sum <"$tmp/rootfs/logger")
logger_sum=${logger_sum%% *}
hash_tag="$repo:${sum:0:12}"

if ! docker image inspect "$hash_tag" >/dev/null 2>&1; then
  docker import \
    -c 'ENTRYPOINT ["/logger"]' \
    -c "LABEL docker-logs-test.rootfs-sha256=$sum docker-logs-test.logger-sha256=$logger_sum" \
    -m "docker_logs test logger, rootfs sha256 $sum" \
    - "$hash_tag" <"$tmp/rootfs.tar" >/dev/null
fi
# Up to date now: make sure the name points at it.
if [[ $image != "$hash_tag" ]]; then
  docker tag "$hash_tag" "$image"
fi
# Drop the hash tags of older builds; an image a container still uses
# (running or stopped) stays, as docker rmi refuses to remove it.
docker image ls --format '{{.Repository}}:{{.Tag}}' "$repo" |
  while read -r old; do
    if [[ $old =~ :[0-9a-f]{12}$ && $old != "$hash_tag" ]]; then
      docker rmi "$old" >/dev/null 2>&1 || true
    fi
  done
echo "$image"
