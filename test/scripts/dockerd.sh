#!/usr/bin/env bash
# Starts a local Docker engine for the tests (see README) unless one answers
# already. Usage: test/scripts/dockerd.sh [start|stop|restart]
set -euo pipefail
log=${DOCKERD_LOG:-/tmp/docker_logs-dockerd.log}

running() { docker info >/dev/null 2>&1; }

start() {
  if running; then return 0; fi
  if ! command -v dockerd >/dev/null; then
    echo "dockerd is not installed: apt-get install -y docker.io" >&2
    exit 1
  fi
  # A previous daemon may still be shutting down: it refuses to start while
  # its pid file exists.
  wait_gone
  nohup dockerd --iptables=false --ip6tables=false --bridge=none \
    --storage-driver=vfs --live-restore >>"$log" 2>&1 &
  for _ in $(seq 1 120); do
    if running; then return 0; fi
    sleep 0.5
  done
  echo "dockerd did not answer within 60s; see $log" >&2
  tail -20 "$log" >&2
  exit 1
}

wait_gone() {
  for _ in $(seq 1 120); do
    pgrep -x dockerd >/dev/null || return 0
    sleep 0.5
  done
  echo "dockerd did not exit within 60s" >&2
  exit 1
}

stop() {
  pkill -x dockerd || true
  wait_gone
}

# kill: SIGKILL, as a crash would; with --live-restore containers keep
# running and their output waits in the pipe for the next daemon.
kill_now() {
  pkill -KILL -x dockerd || true
  wait_gone
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  kill) kill_now ;;
  restart) stop; start ;;
  *) echo "usage: $0 [start|stop|kill|restart]" >&2; exit 2 ;;
esac
