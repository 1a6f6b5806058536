#!/usr/bin/env bash
# Stops what `make up` started, by pid.
set -uo pipefail
cd "$(dirname "$0")/.."
for name in web worker egress; do
  f="var/run/$name.pid"
  if [ -f "$f" ]; then
    pid=$(cat "$f")
    if kill "$pid" 2>/dev/null; then
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -9 "$pid" 2>/dev/null || true
      echo "==> stopped $name ($pid)"
    fi
    rm -f "$f"
  fi
done
if [ -f var/run/redis.started-by-us ] && [ -f var/run/redis.pid ]; then
  kill "$(cat var/run/redis.pid)" 2>/dev/null && echo "==> stopped redis"
  rm -f var/run/redis.started-by-us var/run/redis.pid
fi
# The Docker engine stays up even when `make setup` started it: other containers (and a second
# checkout's tests) may be using it. STOP_DOCKERD=1 stops it too.
if [ -f var/run/dockerd.pid ] && [ "${STOP_DOCKERD:-0}" = "1" ]; then
  kill "$(cat var/run/dockerd.pid)" 2>/dev/null && echo "==> stopped dockerd"
  rm -f var/run/dockerd.pid
fi
