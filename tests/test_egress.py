"""Egress through the host's recording proxy, end to end and nothing mocked: a real egress
proxy process, a real worker and Docker sandboxes, local HTTPS upstreams (a package index and
an npm registry) with a test CA that only the proxy trusts. pip and npm install through the
proxy, every byte is in the run's log, everything else is refused, and a replay gets the same
bytes with both upstreams stopped."""

import base64
import hashlib
import json

import pytest
from crownest_client.verify import verify_folder

from runs.blobs import storage
from runs.egress import control
from runs.egress.models import NetworkRequest, RunNetwork
from runs.egress.reaping import egress_strays_remove
from runs.egress.record import entry_line, entry_make
from runs.egress.services import run_network_set
from runs.egress.store import body_name, network_ndjson, request_dict
from runs.models import Run, TemplateVersion, WorkerHost

from .egress_support import MAX_BYTES, WORKER_HOST
from .egress_upstreams import (
    HOST,
    build_npm_tarball,
    build_wheel,
    serve_npm,
    serve_wheel,
)
from .helpers import make_targz, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.egress]

PROBE = """
import json, socket, sys
for label, host, port in json.loads(sys.argv[1]):
    try:
        socket.create_connection((host, port), timeout=3).close()
        print("probe", label, "open")
    except OSError as exc:
        print("probe", label, "blocked", type(exc).__name__)
try:
    socket.getaddrinfo("pypi.org", 443)
    print("probe dns open")
except OSError:
    print("probe dns blocked")
"""


@pytest.fixture(autouse=True)
def egress_api(settings):
    settings.CROWNEST_EGRESS_ENABLED = True  # the API here takes network runs


def allowing(hosts) -> None:
    """python-node's current version allows `hosts` (as a rebuilt recipe would)."""
    version = TemplateVersion.objects.filter(template_id="python-node").order_by("-number")[0]
    TemplateVersion.objects.filter(pk=version.pk).update(
        recipe={**version.recipe, "egressAllow": list(hosts)}
    )


def network_run(runs, files: dict, command: str, mode: str, allow=(), replay_of=None) -> str:
    """A run with a network mode, through the API, started."""
    data = make_targz(files)
    if mode == "allowlist":
        allowing(allow)
        run = runs.create(data, command, timeoutSeconds=180, network="allowlist")
    else:
        run = runs.create(data, command, timeoutSeconds=180, network=mode, replayOf=replay_of)
    assert run["network"]["mode"] == mode
    assert runs.upload(run["id"], data).status_code == 200
    assert runs.start(run["id"]).status_code == 202
    return run["id"]


def log_of(run_id: str) -> list[dict]:
    rows = NetworkRequest.objects.filter(run_id=run_id).order_by("seq")
    return [request_dict(row) | {"host": row.host} for row in rows]


def ended(runs, run_id: str) -> dict:
    run = runs.wait(run_id, timeout=240)
    # the log is stored before the terminal event: it is complete now
    why = lambda: (run, [e for e in runs.events(run_id) if e["type"] == "error"])  # noqa: E731
    assert RunNetwork.objects.get(run_id=run_id).recorded_at is not None, why()
    return run


@pytest.fixture
def packages(upstreams):
    pypi, npm = upstreams
    wheel_name, wheel = build_wheel("demo-pkg", "1.0", "VALUE = 'from-the-index'\n")
    tarball = build_npm_tarball("demo-npm", "1.0.0", "module.exports = {value: 'from-npm'};\n")
    return {
        "wheel": serve_wheel(pypi, "demo-pkg", wheel_name, wheel),
        "tarball": serve_npm(npm, "demo-npm", "1.0.0", tarball),
        "wheel_name": wheel_name,
    }


def install_command(pypi_base: str, npm_base: str, extra_pip: str = "") -> str:
    return (
        "set -e\n"
        "python3 -m pip install --no-cache-dir --disable-pip-version-check --target vendor "
        f"--index-url {pypi_base}/simple/ demo-pkg {extra_pip}\n"
        "PYTHONPATH=vendor python3 -c 'import demo_pkg; print(\"py\", demo_pkg.VALUE)'\n"
        f"npm install --no-audit --no-fund --no-save --registry {npm_base}/ demo-npm\n"
        'node -e \'console.log("js", require("demo-npm").value)\'\n'
    )


def signed_and_verified(runs, run_id: str, digests: list[str], folder) -> None:
    """Each digest is a signed resolvedDependency, and the saved evidence with the network log
    verifies offline (crownest evidence verify's checks)."""
    api = runs.api
    bundle = runs.wait_evidence(run_id)
    envelope = api.get(f"/api/v1/workspace-runs/{run_id}/evidence/attestation").content
    statement = json.loads(base64.b64decode(json.loads(envelope)["payload"]))
    deps = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    assert set(digests) <= {d["digest"]["sha256"] for d in deps if "uri" in d}
    names = {s["name"]: s["digest"]["sha256"] for s in statement["subject"]}
    assert names["network.ndjson"] == bundle["network"]["logSha256"]
    files = {
        "evidence.json": json.dumps(bundle).encode(),
        "attestation.dsse.json": envelope,
        "events.ndjson": b"".join(
            api.get(f"/api/v1/workspace-runs/{run_id}/events.ndjson").streaming_content
        ),
        "network.ndjson": b"".join(
            api.get(f"/api/v1/workspace-runs/{run_id}/network.ndjson").streaming_content
        ),
        "evidence-keys.json": api.get("/api/v1/evidence-keys").content,
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    verdict = verify_folder(folder)
    assert verdict.ok, verdict.to_json()
    assert not any("network.ndjson" in note for note in verdict.notes)
    (folder / "network.ndjson").write_bytes(files["network.ndjson"] + b"{}\n")
    assert not verify_folder(folder).ok  # a changed log no longer matches what was signed


def test_allowlist_installs_are_recorded_and_replay_needs_no_upstream(
    runs, egress_runs, egress_proxy, upstreams, packages, docker_client, tmp_path
):
    pypi, npm = upstreams
    mitm_port = control.control_call(egress_proxy.env["CROWNEST_EGRESS_DIR"], {"op": "ping"})[
        "mitmPort"
    ]
    gateway = docker_client.networks.get("bridge").attrs["IPAM"]["Config"][0]["Gateway"]
    targets = [
        ["upstream", HOST, pypi.port],  # the upstream itself, not through the proxy
        ["proxy", "127.0.0.1", mitm_port],  # the proxy's own listener
        ["postgres", "127.0.0.1", 5432],  # the host's other ports
        ["host-gateway", gateway, 22],
        ["metadata", "169.254.169.254", 80],
        ["relay", "127.0.0.1", 3128],  # the one way out: the relay inside the sandbox
    ]
    command = install_command(pypi.base, npm.base) + f"python3 probe.py '{json.dumps(targets)}'\n"
    allow = [f"{HOST}:{pypi.port}", f"{HOST}:{npm.port}"]
    first = network_run(runs, {"probe.py": PROBE}, command, "allowlist", allow)
    run = ended(runs, first)
    out = runs.output(first)
    assert run["status"] == "succeeded", (out, runs.output(first, "stderr"))
    assert "py from-the-index" in out and "js from-npm" in out
    for label in ("upstream", "proxy", "postgres", "host-gateway", "metadata", "dns"):
        assert f"probe {label} blocked" in out, out
    assert "probe relay open" in out

    log = log_of(first)
    by_path = {e["url"].split(str(e["url"].split("/")[2]), 1)[1]: e for e in log}
    wheel = by_path[f"/files/{packages['wheel_name']}"]
    tarball = by_path["/demo-npm/-/demo-npm-1.0.0.tgz"]
    # each downloaded file, hashed again here, is in the log and in the blob store
    assert wheel["sha256"] == packages["wheel"] and wheel["decision"] == "allowed"
    assert tarball["sha256"] == packages["tarball"] and tarball["status"] == 200
    assert {e["decision"] for e in log} == {"allowed"}
    for entry in (wheel, tarball):
        with storage().open(body_name(entry["sha256"]), "rb") as fh:
            assert hashlib.sha256(fh.read()).hexdigest() == entry["sha256"]
    network = RunNetwork.objects.get(run_id=first)
    assert network.requests == len(log) and network.refused == 0
    signed_and_verified(runs, first, [packages["wheel"], packages["tarball"]], tmp_path)
    assert network.bytes == sum(e["bytes"] for e in log)
    assert network.log_sha256 == hashlib.sha256(b"".join(network_ndjson(first))).hexdigest()

    # Both upstreams stopped: the replay installs the same bytes from the recording alone.
    served = len(pypi.served) + len(npm.served)
    pypi.stop()
    npm.stop()
    second = network_run(
        runs, {"probe.py": PROBE}, install_command(pypi.base, npm.base), "replay", replay_of=first
    )
    run = ended(runs, second)
    assert run["status"] == "succeeded", runs.output(second, "stderr")
    assert "py from-the-index" in runs.output(second)
    replayed = log_of(second)
    assert {e["decision"] for e in replayed} == {"replayed"}
    assert {e["sha256"] for e in replayed} >= {packages["wheel"], packages["tarball"]}
    assert len(pypi.served) + len(npm.served) == served

    # A checkout that now asks for more than the original fetched: refused, and named.
    third = network_run(
        runs, {}, install_command(pypi.base, npm.base, "demo-extra"), "replay", replay_of=first
    )
    run = ended(runs, third)
    assert run["status"] == "failed"
    missing = f"GET {pypi.base}/simple/demo-extra/"
    refused = [e for e in log_of(third) if e["decision"] == "refused"]
    assert any(missing in e["reason"] for e in refused), refused
    told = [e["data"] for e in runs.events(third) if e["type"] == "error"]
    assert any(d["code"] == "egress_refused" and missing in d["reason"] for d in told), told


REFUSALS = """
import sys, urllib.error, urllib.request
def fetch(label, url, method="GET", headers=None):
    request = urllib.request.Request(url, method=method, headers=headers or {},
                                     data=b"x" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            print(label, resp.status, len(resp.read()))
    except urllib.error.HTTPError as exc:
        print(label, exc.code, exc.read()[:300])
    except OSError as exc:
        print(label, "error", exc)
base, local = sys.argv[1], sys.argv[2]
fetch("unlisted", "https://not-listed.example/")
fetch("private", local + "/simple/demo-pkg/")
fetch("post", base + "/simple/demo-pkg/", method="POST")
upgrade = {"Upgrade": "websocket", "Connection": "Upgrade"}
fetch("websocket", base + "/simple/demo-pkg/", headers=upgrade)
fetch("big", base + "/big")
fetch("fine", base + "/simple/demo-pkg/")
"""


def test_refused_requests_are_logged_and_told_and_the_run_goes_on(
    runs, egress_runs, upstreams, packages
):
    pypi, _npm = upstreams
    pypi.files["/big"] = ("application/octet-stream", b"\x00" * (MAX_BYTES + 1))
    local = f"https://localhost:{pypi.port}"
    # NO_PROXY emptied: "localhost" must go to the proxy too, to be refused there.
    command = f"NO_PROXY= no_proxy= python3 refusals.py {pypi.base} {local}"
    allow = [f"{HOST}:{pypi.port}", f"localhost:{pypi.port}"]
    run_id = network_run(runs, {"refusals.py": REFUSALS}, command, "allowlist", allow)
    run = ended(runs, run_id)
    out = runs.output(run_id)
    assert run["status"] == "succeeded", (out, runs.output(run_id, "stderr"))
    assert "fine 200" in out
    reasons = {
        e["url"].split("/")[2] + " " + e["method"]: e["reason"]
        for e in log_of(run_id)
        if e["decision"] == "refused"
    }
    assert "not on the run's allow list" in reasons["not-listed.example:443 CONNECT"]
    assert "resolves to a loopback address" in reasons[f"localhost:{pypi.port} GET"]
    assert "method POST is not allowed" in reasons[f"{HOST}:{pypi.port} POST"]
    refused = [e for e in log_of(run_id) if e["decision"] == "refused"]
    assert any("websockets are not allowed" in e["reason"] for e in refused)
    assert any("download cap" in e["reason"] and e["url"].endswith("/big") for e in refused)
    assert RunNetwork.objects.get(run_id=run_id).refused == len(refused) == 5
    told = [e["data"] for e in runs.events(run_id) if e["type"] == "error"]
    assert len([d for d in told if d["code"] == "egress_refused"]) == 5
    assert {d["host"] for d in told} == {"not-listed.example", "localhost", HOST}


LOOP = """
import sys, time, urllib.error, urllib.request
url = sys.argv[1]
def status():
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError as exc:
        return repr(exc)
print("first", status(), flush=True)
for _ in range(400):
    answer = status()
    if answer != 200:
        print("during", answer, flush=True)
        break
    time.sleep(0.3)
for _ in range(400):
    if status() == 200:
        print("after 200", flush=True)
        break
    time.sleep(0.3)
"""


def test_a_killed_proxy_fails_requests_clearly_and_comes_back(
    runs, egress_runs, egress_proxy, upstreams, packages, egress_env
):
    pypi, _npm = upstreams
    url = f"{pypi.base}/simple/demo-pkg/"
    run_id = network_run(
        runs, {"loop.py": LOOP}, f"python3 loop.py {url}", "allowlist", [f"{HOST}:{pypi.port}"]
    )
    spool = control.run_folder(egress_env["CROWNEST_EGRESS_DIR"], run_id) / control.LOG
    wait_until(lambda: spool.exists() and spool.read_bytes().count(b"\n") >= 2, timeout=120)
    egress_proxy.kill()
    try:
        wait_until(lambda: "during" in runs.output(run_id), timeout=60)
        # the worker notices the proxy is gone and says so on the run's event log
        wait_until(
            lambda: any(
                e["type"] == "error" and e["data"]["code"] == "egress_unavailable"
                for e in runs.events(run_id)
            ),
            timeout=30,
        )
    finally:
        egress_proxy.start()  # what `make up` and the systemd unit do
    run = ended(runs, run_id)
    out = runs.output(run_id)
    assert run["status"] == "succeeded", out
    during = next(line for line in out.splitlines() if line.startswith("during"))
    assert "502" in during and "after 200" in out  # the relay's answer while no proxy is there
    assert len(log_of(run_id)) >= 3


def test_each_hosts_proxy_is_in_its_heartbeat_and_in_healthz(
    egress_runs, egress_proxy, client, settings
):
    settings.CROWNEST_EGRESS_ENABLED = True  # this web process: an installation with egress on

    def status():
        return WorkerHost.objects.filter(name=WORKER_HOST).values_list("egress", flat=True).first()

    hosts = lambda: list(WorkerHost.objects.values_list("name", "egress"))  # noqa: E731
    wait_until(lambda: status() == "ok", timeout=30, message=lambda: str(hosts()))
    body = client.get("/healthz").json()
    assert body["checks"]["egress"] == "ok"
    assert {h["name"]: h["egress"] for h in body["hosts"]}[WORKER_HOST] == "ok"
    egress_proxy.kill()
    try:
        wait_until(lambda: (status() or "").startswith("unavailable"), timeout=30)
        resp = client.get("/healthz")
        assert resp.status_code == 503
        assert "egress proxy answers" in resp.json()["checks"]["egress"]
    finally:
        egress_proxy.start()
    wait_until(lambda: status() == "ok", timeout=30)


def test_the_reaper_stores_and_closes_what_a_dead_worker_left(
    egress_proxy, egress_env, runs, settings, tmp_path, transactional_db
):
    settings.CROWNEST_EGRESS_ENABLED = True
    settings.CROWNEST_EGRESS_DIR = egress_env["CROWNEST_EGRESS_DIR"]
    settings.CROWNEST_WORKER_HOST = WORKER_HOST
    run_id = runs.create(make_targz({}), "true")["id"]
    run_network_set(run=Run.objects.get(pk=run_id), mode="allowlist", allow=["pypi.org"])
    # a run whose worker died with its socket open: the reaper has ended it
    Run.objects.filter(pk=run_id).update(status=Run.Status.FAILED, worker_host=WORKER_HOST)
    folder = control.run_folder(settings.CROWNEST_EGRESS_DIR, run_id)
    (folder / control.BODIES).mkdir(parents=True)
    body = b"a body fetched before the worker died"
    digest = hashlib.sha256(body).hexdigest()
    (folder / control.BODIES / digest).write_bytes(body)
    entry = entry_make(
        seq=1, method="GET", url="https://pypi.org/simple/x/", host="pypi.org",
        decision="allowed", status=200, size=len(body), sha256=digest,
    )  # fmt: skip
    (folder / control.LOG).write_bytes(entry_line(entry))
    policy = {"socketDir": str(tmp_path), "policy": {"mode": "allowlist", "allow": ["pypi.org"]}}
    (folder / control.POLICY).write_text(json.dumps(policy))
    control.control_call(settings.CROWNEST_EGRESS_DIR, {"op": "open", "run": run_id})
    assert (tmp_path / f"{run_id}.sock").exists()

    assert egress_strays_remove() == [run_id]
    assert not folder.exists() and not (tmp_path / f"{run_id}.sock").exists()
    ping = control.control_call(settings.CROWNEST_EGRESS_DIR, {"op": "ping"})
    assert run_id not in ping["runs"]
    assert [e["sha256"] for e in log_of(run_id)] == [digest]
    assert RunNetwork.objects.get(run_id=run_id).bytes == len(body)
    assert storage().exists(body_name(digest))
