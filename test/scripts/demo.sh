#!/usr/bin/env bash
# Starts the demo container of make run: the test image's logger writing
# one numbered line a second, so that records flow at once. Idempotent.
# Usage: test/scripts/demo.sh [start|stop]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
name=docker_logs-demo

case "${1:-start}" in
  start)
    if [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" = true ]; then
      echo "The demo container $name runs already; stop it with: docker rm -f $name"
      exit 0
    fi
    docker rm -f "$name" >/dev/null 2>&1 || true
    image=$(test/scripts/test-image.sh)
    docker run -d --network none --name "$name" "$image" -n 0 -rate 1 >/dev/null
    echo "Started the demo container $name (one line a second); stop it with: docker rm -f $name"
    ;;
  stop) docker rm -f "$name" >/dev/null 2>&1 || true ;;
  *) echo "usage: $0 [start|stop]" >&2; exit 2 ;;
esac
