#!/usr/bin/env bash
# Starts, stops or kills the Docker engine the tests use, the one DOCKER_HOST
# names: Debian's dockerd (Engine 20.10) on the default socket, or the
# current engine that test/scripts/modern-dockerd.sh builds, at
# unix://DIR/docker.sock. Each daemon is found by its pidfile: two may run.
# Usage: test/scripts/dockerd.sh [start|stop|kill|restart]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
host=${DOCKER_HOST:-unix:///var/run/docker.sock}
sock=${host#unix://}
dir=$(dirname "$sock")

if [ -x "$dir/bin/dockerd" ]; then
  # The current engine, in its own directory.
  pidfile=$dir/docker.pid
  log=$dir/dockerd.log
  launch() { "$here/modern-dockerd.sh" "$dir" >/dev/null; }
else
  pidfile=/var/run/docker.pid
  log=${DOCKERD_LOG:-/tmp/docker_logs-dockerd.log}
  launch() {
    if ! command -v dockerd >/dev/null; then
      echo "dockerd is not installed: apt-get install -y docker.io" >&2
      exit 1
    fi
    nohup dockerd --iptables=false --ip6tables=false --bridge=none \
      --storage-driver=vfs --live-restore >>"$log" 2>&1 &
  }
fi

running() { docker info >/dev/null 2>&1; }

pid() {
  local p
  p=$(cat "$pidfile" 2>/dev/null) || return 1
  [ -n "$p" ] && kill -0 "$p" 2>/dev/null && echo "$p"
}

start() {
  if running; then return 0; fi
  # A previous daemon may still be shutting down: it refuses to start while
  # its pid file exists.
  wait_gone
  launch
  for _ in $(seq 1 120); do
    if running; then return 0; fi
    sleep 0.5
  done
  echo "dockerd ($host) did not answer within 60s; see $log" >&2
  tail -20 "$log" >&2
  exit 1
}

wait_gone() {
  for _ in $(seq 1 120); do
    pid >/dev/null || return 0
    sleep 0.5
  done
  echo "dockerd ($host) did not exit within 60s" >&2
  exit 1
}

signal() {
  local p
  if p=$(pid); then kill "-$1" "$p" || true; fi
  wait_gone
}

case "${1:-start}" in
  start) start ;;
  stop) signal TERM ;;
  # kill: SIGKILL, as a crash would; with --live-restore containers keep
  # running and their output waits in the pipe for the next daemon.
  kill) signal KILL ;;
  restart) signal TERM; start ;;
  *) echo "usage: $0 [start|stop|kill|restart]" >&2; exit 2 ;;
esac
