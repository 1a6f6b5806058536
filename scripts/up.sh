#!/usr/bin/env bash
# Starts the egress proxy, the web server (crownest_web/serve.py: uvicorn, 127.0.0.1:8000) and a
# Celery worker (with the reaper's beat) in the background. Egress is on for a stack started
# here (CROWNEST_EGRESS_ENABLED=false turns it off); an egress proxy that is not running (killed)
# is started again.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p var/log var/run
PORT="${CROWNEST_PORT:-8000}"

alive() { [ -f "var/run/$1.pid" ] && kill -0 "$(cat "var/run/$1.pid")" 2>/dev/null; }

export CROWNEST_EGRESS_ENABLED="${CROWNEST_EGRESS_ENABLED:-true}"
# Template builds push to the registry `make setup` started (CROWNEST_REGISTRY="" turns it off).
export CROWNEST_REGISTRY="${CROWNEST_REGISTRY-127.0.0.1:5055}"
.venv/bin/python manage.py collectstatic --noinput >/dev/null
if [ "$CROWNEST_EGRESS_ENABLED" = "true" ] && ! alive egress; then
  nohup .venv/bin/python manage.py egress_proxy >var/log/egress.log 2>&1 &
  echo $! >var/run/egress.pid
fi
if ! alive web; then
  nohup .venv/bin/python -m crownest_web.serve -b 127.0.0.1 -p "$PORT" >var/log/web.log 2>&1 &
  echo $! >var/run/web.pid
fi
if ! alive worker; then
  nohup .venv/bin/celery -A crownest_web worker -B --concurrency 4 --loglevel INFO \
    --schedule var/run/celerybeat-schedule >var/log/worker.log 2>&1 &
  echo $! >var/run/worker.pid
fi
echo "==> waiting for http://127.0.0.1:$PORT/healthz"
for _ in $(seq 1 120); do
  if curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then
    echo "==> stack is up: http://127.0.0.1:$PORT/ (logs in var/log/)"
    exit 0
  fi
  sleep 0.5
done
curl -sS "http://127.0.0.1:$PORT/healthz" || true
echo; echo "the stack did not become healthy; see var/log/web.log and var/log/worker.log"
exit 1
