#!/usr/bin/env bash
# Starts, stops or kills Podman's Docker-compatible API (`podman system
# service`) for the tests, on its own socket: Debian's podman 4.3.1 with the
# runc v1.3.3 that test/scripts/modern-dockerd.sh builds (Debian's runc is
# too old for it), the cgroupfs manager, no seccomp (that runc is built
# without it) and rlimits no higher than an unprivileged sandbox allows.
# Containers outlive the service (conmon holds them), as with
# --live-restore, so kill then start is a daemon restart. Run as root.
#
# Usage: test/scripts/podman.sh [start|stop|kill|restart] [SOCKET]
#   SOCKET defaults to DOCKER_HOST's path, else /tmp/docker_logs-podman.sock;
#   start prints DOCKER_HOST=unix://SOCKET. Then test/scripts/test-image.sh
#   and the e2e suite run on it unchanged (make e2e-podman).
# Env: MODERN_DIR  where modern-dockerd.sh keeps runc (default
#      /tmp/docker_logs-modern)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
action=${1:-start}
host=${DOCKER_HOST:-}
sock=${2:-${host#unix://}}
[ -n "$sock" ] && [ "$sock" != /var/run/docker.sock ] || sock=/tmp/docker_logs-podman.sock
modern=${MODERN_DIR:-/tmp/docker_logs-modern}
pidfile=${sock%.sock}.pid
log=${sock%.sock}.log

answers() { curl -sf --unix-socket "$sock" http://d/_ping >/dev/null 2>&1; }

pid() {
  local p
  p=$(cat "$pidfile" 2>/dev/null) || return 1
  [ -n "$p" ] && kill -0 "$p" 2>/dev/null && echo "$p"
}

configure() {
  if ! command -v podman >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman >/dev/null
  fi
  [ -x "$modern/bin/runc" ] || "$here/modern-dockerd.sh" "$modern" >/dev/null
  mkdir -p /etc/containers
  cat >/etc/containers/containers.conf <<CONF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
seccomp_profile = "unconfined"
[engine]
cgroup_manager = "cgroupfs"
runtime = "runc13"
[engine.runtimes]
runc13 = ["$modern/bin/runc"]
CONF
}

start() {
  if ! answers; then
    configure
    rm -f "$sock"
    setsid podman system service --time=0 "unix://$sock" >>"$log" 2>&1 </dev/null &
    echo $! >"$pidfile"
    for _ in $(seq 1 120); do
      answers && break
      sleep 0.25
    done
    if ! answers; then
      echo "podman ($sock) did not answer within 30s; see $log" >&2
      tail -20 "$log" >&2
      exit 1
    fi
  fi
  echo "DOCKER_HOST=unix://$sock"
}

signal() {
  local p
  if p=$(pid); then
    kill "-$1" "$p" || true
    for _ in $(seq 1 120); do
      kill -0 "$p" 2>/dev/null || break
      sleep 0.25
    done
  fi
  rm -f "$pidfile"
}

case "$action" in
  start) start ;;
  stop) signal TERM ;;
  # kill: SIGKILL, as a crash would; the containers keep running.
  kill) signal KILL ;;
  restart) signal TERM; start ;;
  *) echo "usage: $0 [start|stop|kill|restart] [SOCKET]" >&2; exit 2 ;;
esac
