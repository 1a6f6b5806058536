"""Whole runs through the API with the real Celery worker and real Docker sandboxes."""

import gzip
import hashlib
import time
from pathlib import Path

import jcs
import pytest
from django.conf import settings

from runs.models import Run

from .helpers import HARDENING_PROBE, assert_hardened, make_targz, run_containers

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("worker")]

HELLO = {
    "package.json": '{"name": "t", "scripts": {"test": "node -e \\"console.log(40 + 2)\\""}}',
    "build.sh": "#!/bin/sh\nmkdir -p dist/sub reports\necho one > dist/a.txt\n"
    "echo two > dist/sub/b.txt\necho '<x/>' > reports/r1.xml\necho '<y/>' > reports/r2.xml\n"
    "echo 'not xml' > reports/notes.txt\nln -s /etc/passwd dist/passwd-link\n"
    "ln -s a.txt dist/inner-link\n",
}


def assert_event_log(events):
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["type"] == "terminal"
    assert sum(e["type"] == "terminal" for e in events) == 1


def test_whole_lifecycle_with_artifacts_and_evidence(runs, api, docker_client):
    run = runs.submit(
        HELLO,
        command="npm test && ./build.sh && python3 -c 'import sys; print(\"py\", file=sys.stderr)'",
        artifactPaths=["dist/", "reports/*.xml", "missing.txt", "dist/passwd-link"],
        env={"GREETING": "hi"},
    )
    assert run["status"] == "queued" and run["queuedAt"]
    done = runs.wait(run["id"])
    assert done["status"] == "succeeded", runs.events(run["id"])
    assert done["exitCode"] == 0 and done["failureReason"] is None
    assert "42" in runs.output(run["id"])
    assert "py" in runs.output(run["id"], "stderr")

    events = runs.events(run["id"])
    assert_event_log(events)
    statuses = [e["data"]["status"] for e in events if e["type"] == "status"]
    assert statuses == ["awaiting_archive", "ready", "queued", "running", "succeeded"]
    kinds = [e["type"] for e in events]
    assert kinds.index("archive_progress") < kinds.index("stdout")
    extract = [
        e for e in events if e["type"] == "archive_progress" and e["data"]["phase"] == "extract"
    ]
    assert extract[-1]["data"]["filesDone"] >= 2
    last_output = max(i for i, k in enumerate(kinds) if k in ("stdout", "stderr"))
    assert min(i for i, k in enumerate(kinds) if k.startswith("artifact_")) > last_output

    artifacts = api.get(f"/api/v1/workspace-runs/{run['id']}/artifacts").json()
    paths = sorted(a["path"] for a in artifacts)
    assert paths == [
        "dist/a.txt",
        "dist/inner-link",
        "dist/sub/b.txt",
        "reports/r1.xml",
        "reports/r2.xml",
    ]
    a_txt = next(a for a in artifacts if a["path"] == "dist/a.txt")
    download = api.get(f"/api/v1/artifacts/{a_txt['id']}/download")
    body = b"".join(download.streaming_content)
    assert body == b"one\n"
    assert a_txt["sha256"] == hashlib.sha256(b"one\n").hexdigest()
    assert download.headers["ETag"] == f'"{a_txt["sha256"]}"'
    assert "attachment" in download.headers["Content-Disposition"]

    errors = {e["data"]["path"]: e["data"]["code"] for e in events if e["type"] == "artifact_error"}
    assert errors["missing.txt"] == "no_match"
    assert errors["dist/passwd-link"] == "outside_workspace"
    collected = [e["data"] for e in events if e["type"] == "artifact_collected"]
    assert sorted(c["artifactId"] for c in collected) == sorted(a["id"] for a in artifacts)

    bundle = runs.wait_evidence(run["id"])
    assert bundle["schema"] == "crownest.evidence/v1"
    assert bundle["runId"] == run["id"] and bundle["status"] == "succeeded"
    assert bundle["template"]["imageDigest"].startswith("sha256:")
    assert bundle["source"]["archive"]["sha256"] == run["archive"]["sha256"]
    assert bundle["source"]["archive"]["uploadMethod"] == "direct"
    assert bundle["source"]["archive"]["fileCount"] == 2
    assert bundle["source"]["submittedBy"] == "alice"
    assert sorted(bundle["artifactIds"]) == sorted(a["id"] for a in artifacts)
    assert bundle["terminalEvent"] == events[-1]
    assert bundle["events"]["count"] == len(events) == bundle["events"]["lastSeq"]
    # A client re-derives events.ndjson from the listed events: each one's RFC 8785 bytes.
    served = b"".join(jcs.canonicalize(e) + b"\n" for e in events)
    assert bundle["events"]["sha256"] == hashlib.sha256(served).hexdigest()
    ts = bundle["timestamps"]
    for key in (
        "createdAt",
        "archiveVerifiedAt",
        "queuedAt",
        "startedAt",
        "commandStartedAt",
        "commandFinishedAt",
        "terminalAt",
        "evidenceWrittenAt",
    ):
        assert ts[key] and ts[key].endswith("Z"), key
    assert ts["commandStartedAt"] <= ts["commandFinishedAt"] <= ts["terminalAt"]
    assert bundle["sandbox"] == {"id": f"crownest-run-{run['id']}", "kept": False}
    # The bundle is written before removal; when the sandbox went is on the run object.
    removed = runs.wait(run["id"], until=lambda r: r["sandbox"]["removedAt"])
    assert removed["sandbox"]["removedAt"] >= ts["evidenceWrittenAt"]
    assert bundle["limits"]["timeoutSeconds"] == 600 and bundle["limits"]["network"] is False
    assert run_containers(docker_client, run["id"]) == []
    assert runs.get(run["id"])["evidenceAvailable"] is True


def test_nonzero_exit_fails_and_still_collects(runs, api):
    run = runs.submit(
        {"x.txt": "x"},
        command="echo out; mkdir -p o; echo r > o/r.txt; exit 3",
        artifactPaths=["o/r.txt"],
    )
    done = runs.wait(run["id"])
    assert (done["status"], done["exitCode"], done["failureReason"]) == ("failed", 3, "exit_code")
    assert len(done["artifactIds"]) == 1
    events = runs.events(run["id"])
    assert_event_log(events)
    assert events[-1]["data"]["exitCode"] == 3


def test_argv_command_and_env(runs):
    run = runs.submit(
        {"x.txt": "x"},
        command=[
            "python3",
            "-c",
            "import os; print(os.environ['GREETING'], os.getcwd(), os.getuid())",
        ],
        env={"GREETING": "hello"},
    )
    assert runs.wait(run["id"])["status"] == "succeeded"
    assert runs.output(run["id"]).split() == ["hello", "/workspace", "1000"]


def test_timeout_stops_the_command(runs):
    run = runs.submit(
        {"x.txt": "x"},
        command="echo begin; mkdir -p out; echo keep > out/k.txt; sleep 60",
        timeoutSeconds=2,
        artifactPaths=["out/"],
    )
    t0 = time.monotonic()
    done = runs.wait(run["id"], timeout=40)
    assert time.monotonic() - t0 < 20
    assert (done["status"], done["failureReason"]) == ("failed", "timeout")
    events = runs.events(run["id"])
    assert_event_log(events)
    assert any(e["type"] == "error" and e["data"]["code"] == "timeout" for e in events)
    assert len(done["artifactIds"]) == 1  # artifacts are collected after a timeout too
    assert any(e["type"] == "heartbeat" for e in events)


def test_cancel_while_running_removes_the_sandbox(runs, api, docker_client):
    run = runs.submit({"x.txt": "x"}, command="echo started; sleep 120")
    runs.wait(run["id"], until=lambda r: "started" in runs.output(r["id"]))
    assert run_containers(docker_client, run["id"])
    t0 = time.monotonic()
    resp = api.post(f"/api/v1/workspace-runs/{run['id']}/cancel")
    assert resp.status_code == 202
    done = runs.wait(run["id"], timeout=30)
    assert done["status"] == "canceled"
    assert time.monotonic() - t0 < 10
    runs.wait_evidence(run["id"])
    # The sandbox goes right after the evidence is written (nothing waits for cleanup).
    runs.wait(run["id"], until=lambda r: r["sandbox"]["removedAt"], timeout=30)
    assert run_containers(docker_client, run["id"]) == []
    assert docker_client.volumes.list(filters={"label": f"org.crownest.run={run['id']}"}) == []
    assert_event_log(runs.events(run["id"]))
    assert api.post(f"/api/v1/workspace-runs/{run['id']}/cancel").status_code == 409


def test_sandbox_is_hardened(runs):
    run = runs.submit({"probe.py": HARDENING_PROBE}, command="python3 probe.py")
    assert runs.wait(run["id"])["status"] == "succeeded"
    assert_hardened(runs.output(run["id"]))


def test_fork_bomb_is_contained(runs):
    run = runs.submit(
        {"x.txt": "x"},
        command='python3 -c "import os\nn=0\ntry:\n  while True:\n    if os.fork()==0:\n'
        "      import time; time.sleep(30); os._exit(0)\n    n+=1\nexcept OSError as e:\n"
        "  print('fork refused after', n)\"",
        timeoutSeconds=30,
    )
    done = runs.wait(run["id"], timeout=60)
    out = runs.output(run["id"])
    assert out.startswith("fork refused after") and int(out.split()[-1]) < 64
    # The parent caught the refusal and exited 0; the init process ends the sleeping children
    # with the container, well before the timeout.
    assert (done["status"], done["exitCode"], done["failureReason"]) == ("succeeded", 0, None)


def test_oom_kill_is_reported(runs):
    run = runs.submit({"x.txt": "x"}, command="python3 -c \"b = b'x' * (1024**3); print(len(b))\"")
    done = runs.wait(run["id"], timeout=60)
    assert (done["status"], done["failureReason"]) == ("failed", "oom_killed")
    assert done["exitCode"] == 137


def test_output_limit_one_error_then_dropped(runs):
    run = runs.submit(
        {"x.txt": "x"},
        command='python3 -c "import sys\nfor i in range(300000): '
        "print('line %07d xxxxxxxxxxxxxxxxxxxxxxxx' % i)\"; echo after",
    )
    done = runs.wait(run["id"], timeout=90)
    assert done["status"] == "succeeded"  # by default the run goes on
    events = runs.events(run["id"])
    assert_event_log(events)
    limits = [e for e in events if e["type"] == "error" and e["data"]["code"] == "output_limit"]
    assert len(limits) == 1
    text = runs.output(run["id"])
    assert len(text.encode()) <= 4 * 1024 * 1024
    assert "after" not in text
    assert all(e["seq"] < limits[0]["seq"] for e in events if e["type"] == "stdout")


def test_stdout_stderr_order_kept(runs):
    # stdout and stderr are two pipes that the engine reads concurrently, so writes that are
    # microseconds apart have no defined order; a few milliseconds apart they must keep theirs.
    cmd = "for i in 1 2 3 4 5; do echo out$i; sleep 0.02; echo err$i >&2; sleep 0.02; done"
    run = runs.submit({"x.txt": "x"}, command=cmd)
    assert runs.wait(run["id"])["status"] == "succeeded"
    seq = [
        (e["type"], e["data"]["text"])
        for e in runs.events(run["id"])
        if e["type"] in ("stdout", "stderr")
    ]
    joined = "".join(f"{t[3]}:{text}" for t, text in seq)
    assert joined == "".join(f"o:out{i}\ne:err{i}\n" for i in range(1, 6))


def test_keep_sandbox_keeps_it_and_reaper_leaves_it(runs, docker_client):
    from runs.tasks import reap

    run = runs.submit({"x.txt": "x"}, command="echo kept > k.txt", keepSandbox=True)
    done = runs.wait(run["id"])
    assert done["status"] == "succeeded"
    bundle = runs.wait_evidence(run["id"])
    assert bundle["sandbox"]["kept"] is True and runs.get(run["id"])["sandbox"]["removedAt"] is None
    assert done["sandbox"]["kept"] is True
    assert run_containers(docker_client, run["id"])
    reap()
    assert run_containers(docker_client, run["id"])
    from runs.worker.sandbox import get_sandbox

    get_sandbox().remove(run["id"])


def test_archive_that_fails_to_extract_is_archive_invalid(runs):
    # Every check at upload passes; then the stored copy is damaged (a bad disk, a storage
    # bug), so only the extraction in the sandbox can find out.
    data = make_targz({"big.txt": "y" * 50000, "run.sh": "echo ran"})
    run = runs.create(data, command="sh run.sh")
    assert runs.upload(run["id"], data).status_code == 200
    stored = Path(settings.MEDIA_ROOT) / Run.objects.get(pk=run["id"]).archive_file
    stored.write_bytes(gzip.compress(gzip.decompress(data)[:20000], mtime=0))
    assert runs.start(run["id"]).status_code == 202
    done = runs.wait(run["id"])
    assert (done["status"], done["failureReason"]) == ("failed", "archive_invalid")
    assert done["exitCode"] is None
    events = runs.events(run["id"])
    assert_event_log(events)
    assert any(e["type"] == "error" and e["data"]["code"] == "archive_invalid" for e in events)
    assert not any(e["type"] == "stdout" for e in events)  # the command never ran
    assert runs.wait_evidence(run["id"])["status"] == "failed"


def test_redelivered_task_does_nothing_to_an_ended_run(runs):
    from runs.worker.execution import run_execute

    run = runs.submit({"x.txt": "x"}, command="echo once")
    runs.wait(run["id"])
    before = Run.objects.get(pk=run["id"]).last_seq
    run_execute(run_id=run["id"])
    assert Run.objects.get(pk=run["id"]).last_seq == before
