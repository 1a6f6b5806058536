#!/usr/bin/env bash
# A second Docker engine on this machine, standing in for a second worker host: its own socket,
# data root, exec root and pidfile, no bridge (sandboxes have no network), and the template image
# loaded from the first engine when it is missing. Idempotent; prints the DOCKER_HOST to use.
#   scripts/second_engine.sh [IMAGE...]        (default: the python-node image of this recipe)
set -euo pipefail
cd "$(dirname "$0")/.."
root="${CROWNEST_ENGINE2_ROOT:-/var/lib/crownest-engine2}"
run="${CROWNEST_ENGINE2_RUN:-/run/crownest-engine2}"
sock="unix://$run/docker.sock"
mkdir -p "$root" "$run" var/log

if ! DOCKER_HOST="$sock" docker info >/dev/null 2>&1; then
  printf '%s\n' '{"runtimes": {"runsc": {"path": "/usr/bin/runsc", "runtimeArgs": ["--network=none"]}}}' \
    >"$run/daemon.json"
  nohup dockerd --host "$sock" --data-root "$root/data" --exec-root "$run/exec" \
    --pidfile "$run/dockerd.pid" --config-file "$run/daemon.json" --bridge none \
    --iptables=false --ip-masq=false --ip-forward=false \
    --containerd-namespace crownest-engine2 --containerd-plugins-namespace crownest-engine2-plugins \
    >var/log/engine2.log 2>&1 &
  for _ in $(seq 1 60); do DOCKER_HOST="$sock" docker info >/dev/null 2>&1 && break; sleep 0.5; done
  DOCKER_HOST="$sock" docker info >/dev/null 2>&1 || {
    echo "the second dockerd did not start; see var/log/engine2.log" >&2
    exit 1
  }
fi

images=("$@")
if [ ${#images[@]} -eq 0 ]; then
  images=("crownest/python-node:$(images/python-node/build.sh --print-tag | cut -d: -f2)")
fi
for image in "${images[@]}"; do
  want="$(docker image inspect -f '{{.Id}}' "$image")"
  have="$(DOCKER_HOST="$sock" docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)"
  if [ "$want" != "$have" ]; then
    echo "==> loading $image into the second engine" >&2
    docker save "$image" | DOCKER_HOST="$sock" docker load >&2
  fi
done
echo "$sock"
