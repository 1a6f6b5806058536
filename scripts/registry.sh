#!/usr/bin/env bash
# The installation's registry for one machine (Debian's docker-registry 2.8) on a loopback port,
# its data under var/registry/. Docker pushes to and pulls from a loopback registry without TLS
# (127.0.0.0/8 is an insecure registry by default); several hosts need TLS and credentials
# (docs/deploy.md, "The registry"). Idempotent: nothing is started when the port answers.
#   scripts/registry.sh [PORT]        (default 5055; prints host:port)
set -euo pipefail
cd "$(dirname "$0")/.."
port="${1:-5055}"
addr="127.0.0.1:$port"
answers() { curl -fsS -o /dev/null "http://$addr/v2/" 2>/dev/null; }

if ! answers; then
  command -v docker-registry >/dev/null || {
    echo "docker-registry is not installed (make setup installs it)" >&2
    exit 1
  }
  data="$PWD/var/registry/$port"
  mkdir -p "$data/data" var/log var/run
  cat >"$data/config.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $data/data
  delete:
    enabled: true
http:
  addr: $addr
YAML
  echo "==> starting docker-registry on $addr (data in $data)" >&2
  nohup docker-registry serve "$data/config.yml" >"var/log/registry-$port.log" 2>&1 &
  echo $! >"var/run/registry-$port.pid"
  for _ in $(seq 1 40); do answers && break; sleep 0.25; done
  answers || {
    echo "docker-registry did not start; see var/log/registry-$port.log" >&2
    exit 1
  }
fi
echo "$addr"
