#!/usr/bin/env bash
# Installs and starts what CrowNest needs on a fresh Debian machine (as root). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p var/log var/run

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
# gVisor, the stronger sandbox runtime (CROWNEST_SANDBOX_RUNTIME=runsc); the tests use it too.
command -v runsc >/dev/null || need+=(runsc)
# Browser tests (tests/e2e) drive Debian's Chromium through Playwright.
command -v chromium >/dev/null || need+=(chromium)
# redis-server also runs the test suite's own Redis (tests restart it), so it is always needed.
command -v redis-server >/dev/null || need+=(redis-server)
# The installation's registry (Debian's docker-registry 2.8): template images to every host.
command -v docker-registry >/dev/null || need+=(docker-registry)
if [ ${#need[@]} -gt 0 ]; then
  echo "==> installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q "${need[@]}" >/dev/null
fi

# Prometheus and promtool: the alert rules' unit tests and the test where a real Prometheus
# scrapes the stack (tests/test_prometheus*.py). Only the binaries: no node exporter, no service.
if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
  echo "==> installing prometheus (for promtool and the monitoring tests)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends prometheus >/dev/null
fi

if ! redis-cli -u "${REDIS_URL:-redis://127.0.0.1:6379/0}" ping >/dev/null 2>&1; then
  echo "==> starting redis-server"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --logfile "$PWD/var/log/redis.log" --pidfile "$PWD/var/run/redis.pid"
  touch var/run/redis.started-by-us
fi

# Register gVisor with Docker. runsc must get --network=none itself: Debian's build refuses to
# run "with network enabled in root network namespace" otherwise (sandboxes have no network).
runtimes='{"runtimes": {"runsc": {"path": "/usr/bin/runsc", "runtimeArgs": ["--network=none"]}}}'
if [ ! -f /etc/docker/daemon.json ]; then
  mkdir -p /etc/docker && echo "$runtimes" >/etc/docker/daemon.json
elif ! grep -q '"runsc"' /etc/docker/daemon.json; then
  echo "note: /etc/docker/daemon.json exists without a runsc runtime; add $runtimes to use gVisor"
fi
if docker info >/dev/null 2>&1 && ! docker info 2>/dev/null | grep -q "Runtimes:.*runsc" \
  && grep -q '"runsc"' /etc/docker/daemon.json; then
  echo "==> reloading dockerd (runtimes)"
  for pid in $(pidof dockerd); do  # the machine's engine, not a second one (--host) beside it
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- '--host' || kill -HUP "$pid"
  done
  sleep 1
fi

if ! docker info >/dev/null 2>&1; then
  echo "==> starting dockerd"
  setsid nohup dockerd >var/log/dockerd.log 2>&1 </dev/null &
  echo $! >var/run/dockerd.pid
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start; see var/log/dockerd.log"; exit 1; }
fi

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  python3 -m venv .venv
fi
stamp=.venv/.crownest-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ clients/python/pyproject.toml -nt "$stamp" ]; then
  echo "==> installing Python packages"
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -e '.[dev]'
  # the CLI + Python SDK: the suite and `make demo` use it
  .venv/bin/pip install -q -e clients/python
  touch "$stamp"
fi

# The egress proxy (mitmproxy 11, which runs on Python 3.11; 12 needs 3.12) pins libraries of its
# own, so it gets a virtualenv of its own; `manage.py egress_proxy` runs it from there.
if [ ! -x .venv-egress/bin/python ]; then
  echo "==> creating .venv-egress"
  python3 -m venv .venv-egress
fi
if [ ! -f .venv-egress/.crownest-installed ] || ! .venv-egress/bin/python -c 'import mitmproxy' 2>/dev/null; then
  echo "==> installing the egress proxy (mitmproxy 11.0.2)"
  .venv-egress/bin/pip install -q 'mitmproxy==11.0.2'
  touch .venv-egress/.crownest-installed
fi

# A local install's Django secret, made once and kept private; production sets its own.
if [ -z "${CROWNEST_SECRET_KEY:-}" ] && [ ! -s var/secret_key ]; then
  echo "==> generating var/secret_key"
  (umask 077; python3 -c 'import secrets; print(secrets.token_urlsafe(50))' >var/secret_key)
fi

images/python-node/build.sh
.venv/bin/python manage.py migrate --noinput >/dev/null
# The templates settings define (python-node) in the Template table, with the image build.sh made.
.venv/bin/python manage.py seed_templates >/dev/null
# The installation's registry on a loopback port (scripts/registry.sh; data in var/registry/),
# holding the python-node image: pushed only when it lacks that tag, its digest recorded on the
# seeded version. CROWNEST_REGISTRY names another registry (several hosts: docs/deploy.md).
registry="${CROWNEST_REGISTRY:-$(bash scripts/registry.sh)}"
.venv/bin/python manage.py template_registry push --registry "$registry"
# The worker's evidence signing key (var/evidence-key.pem, mode 0600), made once; back it up.
.venv/bin/python manage.py evidence_keys create --if-missing
# The egress proxy's CA (var/egress/ca/, key mode 0600), made once; `egress_ca rotate` replaces it.
.venv/bin/python manage.py egress_ca create --if-missing
.venv/bin/python manage.py collectstatic --noinput >/dev/null
echo "==> set-up done"
