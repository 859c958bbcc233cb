#!/usr/bin/env bash
# Builds (once) and starts a current Docker Engine beside Debian's 20.10, on
# its own socket and data root, from the Go module proxy alone: dockerd from
# github.com/moby/moby/v2 and runc v1.3.3 (Debian's runc 1.1.5 is too old for
# it: "namespace time does not exist"); Debian's containerd serves it. runc is
# built without seccomp, so the daemon runs with --seccomp-profile unconfined.
# The first build takes about 5 minutes on 2 cores, later ones reuse Go's
# build cache. --live-restore keeps containers running across its restarts,
# as for the default engine.
#
# Usage: test/scripts/modern-dockerd.sh [DIR]   (default /tmp/docker_logs-modern)
#   prints DOCKER_HOST=unix://DIR/docker.sock; stop it with
#   DOCKER_HOST=unix://DIR/docker.sock test/scripts/dockerd.sh stop
set -euo pipefail
dir=${1:-/tmp/docker_logs-modern}
dockerd_version=v2.0.0-beta.24
runc_version=v1.3.3
mkdir -p "$dir/bin"
export PATH="/usr/local/go/bin:$PATH" GOFLAGS=-mod=mod
if ! command -v containerd >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq containerd >/dev/null
fi
if [ ! -x "$dir/bin/dockerd" ]; then
  echo "Building dockerd $dockerd_version (a few minutes the first time)" >&2
  GOBIN="$dir/bin" go install "github.com/moby/moby/v2/cmd/dockerd@$dockerd_version"
fi
if [ ! -x "$dir/bin/runc" ]; then
  echo "Building runc $runc_version" >&2
  src=$(go mod download -json "github.com/opencontainers/runc@$runc_version" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  rm -rf "$dir/runc-src"
  cp -r "$src" "$dir/runc-src"
  chmod -R u+w "$dir/runc-src"
  # The module's zip lacks the vendored selinux its go.mod points at.
  (cd "$dir/runc-src" && go mod edit -dropreplace github.com/opencontainers/selinux && go build -o "$dir/bin/runc" .)
fi
ping() { curl -sf --unix-socket "$dir/docker.sock" http://d/_ping >/dev/null 2>&1; }
if ! ping; then
  setsid "$dir/bin/dockerd" -H "unix://$dir/docker.sock" --data-root "$dir/data" --exec-root "$dir/exec" \
    --pidfile "$dir/docker.pid" --iptables=false --ip6tables=false --bridge=none --storage-driver=vfs \
    --add-runtime "runc13=$dir/bin/runc" --default-runtime runc13 --seccomp-profile unconfined \
    --live-restore >>"$dir/dockerd.log" 2>&1 </dev/null &
  for _ in $(seq 1 120); do ping && break; sleep 0.5; done
  ping || { echo "dockerd $dockerd_version did not answer within 60s; see $dir/dockerd.log" >&2; tail -20 "$dir/dockerd.log" >&2; exit 1; }
fi
echo "DOCKER_HOST=unix://$dir/docker.sock"
