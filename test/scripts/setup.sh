#!/usr/bin/env bash
# Makes this machine ready for the project: installs what is missing (as
# root, from Debian) and starts the project's Docker engine when none
# answers. Without root it says what is missing and fails.
# Usage: test/scripts/setup.sh [test|run]
#   test (default): everything make test needs
#   run: what make run needs (the .so, the host, an engine)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
mode=${1:-test}
root=false
[ "$(id -u)" = 0 ] && root=true

engine_up() { docker info >/dev/null 2>&1; }

if ! engine_up && ! $root; then
  echo "No Docker engine answers (DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock}):" \
    "$({ docker info 2>&1 || true; } | grep -m1 -iE 'cannot connect|permission denied|error' || echo 'docker info fails')" >&2
  echo "Start one as root (test/scripts/dockerd.sh start), or run this as root, which does it." >&2
  exit 1
fi

need=()
command -v docker >/dev/null || need+=(docker.io)
# dockerd only matters when no engine answers already.
if ! engine_up && ! command -v dockerd >/dev/null && [ ! -x /usr/sbin/dockerd ]; then
  [[ " ${need[*]-} " == *" docker.io "* ]] || need+=(docker.io)
fi
command -v gcc >/dev/null || need+=(gcc)
[ -f /usr/include/stdio.h ] || need+=(libc6-dev)
[ -f /usr/include/msgpack.h ] || need+=(libmsgpack-dev)
if [ "$mode" = test ]; then
  [ -x /usr/bin/busybox ] || need+=(busybox-static)
  command -v promtool >/dev/null || need+=(prometheus)
fi
# Fluent Bit on PATH (a build of it, as CI's) needs these at run time.
if fb=$(command -v fluent-bit) && ldd "$fb" 2>/dev/null | grep -q 'not found'; then
  need+=(libyaml-0-2 libssl3 libsqlite3-0)
fi
command -v go >/dev/null || {
  echo "Go is not installed: put it in PATH or at /usr/local/go/bin (https://go.dev/dl/)" >&2
  exit 1
}

if [ ${#need[@]} -gt 0 ]; then
  if ! $root; then
    echo "Missing: ${need[*]}. Install them (apt-get install -y ${need[*]}) or run as root, which does it." >&2
    exit 1
  fi
  echo "Installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! engine_up; then
  test/scripts/dockerd.sh start
  echo "Started the project's Docker engine (dockerd, log ${DOCKERD_LOG:-/tmp/docker_logs-dockerd.log});" \
    "stop it with: test/scripts/dockerd.sh stop"
fi
docker version --format 'Docker engine {{.Server.Version}} (API {{.Server.APIVersion}})'
