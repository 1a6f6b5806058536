"""docs/deploy.md's one-host part, followed: the four systemd units' own commands (ExecStartPre,
then ExecStart) with deploy/crownest.env.example as their environment, only the database, Redis,
paths, port and names replaced by the test's. A run goes through them end to end."""

import contextlib
import hashlib
import os
import re
import secrets
import shlex
import socket
import subprocess

import pytest
import requests
from django.contrib.auth import get_user_model

from runs.tokens import token_issue

from .helpers import ROOT, database_url, free_port, make_targz, port_open, wait_until

pytestmark = pytest.mark.docker
DEPLOY = ROOT / "deploy"
INSTALLED = "/opt/crownest"


def env_file(path) -> dict:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
    return values


def unit_commands(name: str) -> dict[str, list[str]]:
    commands: dict[str, list[str]] = {"ExecStartPre": [], "ExecStart": []}
    for line in (DEPLOY / name).read_text().splitlines():
        key, _, value = line.partition("=")
        if key in commands:
            commands[key].append(value)
    return commands


def argv_of(command: str, env: dict) -> list[str]:
    """What systemd would run: ${VAR} from the environment, %H the host name, %% a percent."""
    command = re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], command)
    command = command.replace("%H", socket.gethostname()).replace("%%", "%")
    command = command.replace(INSTALLED, str(ROOT))
    return shlex.split(command)


@pytest.fixture
def deployed(transactional_db, tmp_path, settings):
    var = tmp_path / "var"
    (var / "media").mkdir(parents=True)
    secret = tmp_path / "secret_key"
    secret.write_text(secrets.token_urlsafe(50))
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CROWNEST_")},
        **env_file(DEPLOY / "crownest.env.example"),
        # what a test machine has instead of the example's hosts and paths
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CROWNEST_VAR_DIR": str(var),
        "CROWNEST_SECRET_KEY_FILE": str(secret),
        "CROWNEST_EVIDENCE_KEY_FILE": str(tmp_path / "evidence-key.pem"),
        "CROWNEST_ALLOWED_HOSTS": "127.0.0.1",
        "CROWNEST_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "CROWNEST_HTTPS": "false",  # no TLS proxy in front here
        "CROWNEST_S3_BUCKET": "",  # one host: the local disk
        "CROWNEST_WORKER_HOST": "deploy-test",
        "CROWNEST_WORKER_SLOTS": "2",
        "CROWNEST_QUEUE": "crownest-test-deploy",
        "CROWNEST_CHANNEL_PREFIX": "crownest-test-deploy",
        "CROWNEST_INSTANCE": "test-deploy",
        "CROWNEST_SANDBOX_DISK": "128m",
    }
    env.pop("DOCKER_HOST")  # the machine's engine
    procs = []
    with contextlib.ExitStack() as stack:
        units = ("crownest-web.service", "crownest-egress.service", "crownest-worker.service")
        for unit in (*units, "crownest-beat.service"):
            commands = unit_commands(unit)
            for pre in commands["ExecStartPre"]:
                done = subprocess.run(
                    argv_of(pre, env), cwd=ROOT, env=env, capture_output=True, timeout=300
                )
                assert done.returncode == 0, (unit, pre, done.stderr.decode()[-2000:])
            (start,) = commands["ExecStart"]
            argv = argv_of(start.replace("-p 8000", f"-p {port}"), env)
            log = open(tmp_path / f"{unit}.log", "wb")
            stack.callback(log.close)
            proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            procs.append(proc)
        stack.callback(lambda: [stop(p) for p in procs])
        wait_until(lambda: port_open(port), timeout=60, message="the web unit did not start")
        yield f"http://127.0.0.1:{port}", tmp_path


def stop(proc) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_the_one_host_recipe_runs_a_run(deployed):
    base, folder = deployed

    def deployed_host_up():
        health = requests.get(f"{base}/healthz", timeout=5)
        hosts = health.json()["hosts"] if health.status_code == 200 else []
        return any(h["name"] == "deploy-test" and h["state"] == "up" for h in hosts)

    wait_until(
        deployed_host_up,
        timeout=60,
        message=lambda: requests.get(f"{base}/healthz", timeout=5).text,
    )
    user = get_user_model().objects.create_user(username="ops")
    headers = {"Authorization": f"Bearer {token_issue(user=user)}"}
    data = make_targz({"hello.sh": "echo deployed"})
    created = requests.post(
        f"{base}/api/v1/workspace-runs",
        headers=headers,
        json={
            "template": "python-node",
            "command": "sh hello.sh",
            "archive": {"sizeBytes": len(data), "sha256": hashlib.sha256(data).hexdigest()},
        },
        timeout=10,
    )
    assert created.status_code == 201, created.text
    run = created.json()
    put = requests.put(
        run["links"]["archive"],
        data=data,
        headers={**headers, "Content-Type": "application/gzip"},
        timeout=30,
    )
    assert put.status_code == 200, put.text
    assert requests.post(run["links"]["start"], headers=headers, timeout=10).ok

    def ended():
        body = requests.get(run["links"]["self"], headers=headers, timeout=5).json()
        return body["status"] in ("succeeded", "failed", "canceled") and body

    done = wait_until(ended, timeout=120)
    assert done["status"] == "succeeded", done
    bundle = requests.get(run["links"]["evidence"], headers=headers, timeout=10)
    assert bundle.status_code == 200, bundle.text  # on the first try, once terminal was seen
    assert bundle.json()["status"] == "succeeded"
    events = requests.get(run["links"]["events"], headers=headers, timeout=5).json()
    text = "".join(e["data"]["text"] for e in events["events"] if e["type"] == "stdout")
    assert text == "deployed\n"
    # the worker unit made its signing key on first start
    assert (folder / "evidence-key.pem").stat().st_mode & 0o777 == 0o600
