"""The Python SDK (clients/python) against the live stack: step-by-step calls, typed errors,
SSE resume through a proxy that cuts connections, the one-shot run_archive, the packer."""

import hashlib
import io
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import httpx
import pytest
from crownest_client import (
    ArchiveRejected,
    Client,
    InvalidRequest,
    InvalidState,
    NotAuthenticated,
    NotFound,
    StreamError,
    TransferConflict,
    pack_bytes,
    run_archive,
)

from .helpers import LINES, ROOT, CutProxy, archive_meta, free_port, make_targz


@pytest.fixture
def sdk(stack, user):
    with Client(stack.base_url, stack.token(user)) as client:
        yield client


def submit(client: Client, files: dict, command: str, **fields):
    data = make_targz(files)
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"sdk-{hashlib.sha1(data).hexdigest()}.tgz"
    path.write_bytes(data)
    run = client.create_run(
        template="python-node", command=command, archive=archive_meta(data), **fields
    )
    assert run.status == "awaiting_archive"
    assert client.upload_archive(run.id, path).status == "ready"
    assert client.start(run.id).status == "queued"
    return run


@pytest.mark.docker
def test_step_by_step_calls(sdk):
    run = submit(
        sdk, {"a.sh": "echo out; echo err >&2; mkdir -p d; echo x > d/f.txt"}, "sh a.sh",
        artifact_paths=["d/"], resources={"cpus": 0.5},
    )  # fmt: skip
    assert run.resources["cpus"] == 0.5 and run.queue is None
    events = list(sdk.stream_events(run.id))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[-1].type == "terminal" and events[-1].data["status"] == "succeeded"
    page = sdk.list_events(run.id, limit=1000)
    assert [e.to_json() for e in page.events] == [e.to_json() for e in events]
    assert page.terminal and not page.has_more
    assert "".join(e.data["text"] for e in events if e.type == "stderr") == "err\n"
    got = sdk.get_run(run.id)
    assert got.terminal and got.exit_code == 0 and got.last_seq == events[-1].seq
    assert got.resources["cpus"] == 0.5 and got.queue is None
    assert run.id in [r.id for r in sdk.list_runs().results]
    [artifact] = sdk.list_artifacts(run.id)
    assert artifact.path == "d/f.txt"
    dest = sdk.download_artifact(artifact.id, Path(os.environ.get("TMPDIR", "/tmp")) / "f.txt")
    assert dest.read_bytes() == b"x\n"
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == artifact.sha256
    evidence = sdk.get_evidence(run.id)
    assert evidence.run_id == run.id and evidence.events["lastSeq"] == events[-1].seq
    with pytest.raises(InvalidState) as info:
        sdk.cancel(run.id)
    assert info.value.status == 409 and info.value.details["status"] == "succeeded"
    assert [t.name for t in sdk.list_templates()] == ["python-node"]


@pytest.mark.docker
def test_typed_errors(stack, sdk, other_user):
    data = make_targz({"x": "x"})
    with pytest.raises(InvalidRequest) as info:
        sdk.create_run(template="python-node", command="", archive={})
    assert info.value.code == "invalid_request" and "archive" in str(info.value.details)
    run = sdk.create_run(template="python-node", command="true", archive=archive_meta(data))
    bad = Path(os.environ.get("TMPDIR", "/tmp")) / "bad.tgz"
    bad.write_bytes(data[:20] + bytes([data[20] ^ 1]) + data[21:])
    with pytest.raises(ArchiveRejected) as info:
        sdk.upload_archive(run.id, bad)
    assert info.value.status == 422 and info.value.code == "archive_digest_mismatch"
    with Client(stack.base_url, stack.token(other_user)) as other, pytest.raises(NotFound):
        other.get_run(run.id)
    with Client(stack.base_url, "cn_wrong") as anon, pytest.raises(NotAuthenticated) as info:
        anon.list_runs()
    assert info.value.status == 401
    assert sdk.cancel(run.id).status == "canceled"


@pytest.mark.docker
def test_stream_resumes_after_the_connection_is_cut(stack, user, sdk):
    run = submit(sdk, {"x": "x"}, LINES)
    proxy = CutProxy(stack.base_url, cut_after=900, cuts=3)
    try:
        with Client(proxy.url, stack.token(user)) as client:
            events = list(client.stream_events(run.id, backoff=0.05))
    finally:
        proxy.close()
    assert proxy.cuts == 3
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [e.to_json() for e in events] == [
        e.to_json() for e in sdk.list_events(run.id, limit=1000).events
    ]
    text = "".join(e.data["text"] for e in events if e.type == "stdout")
    assert text.splitlines() == [f"line{i}" for i in range(1, 41)]


def test_stream_gives_up_after_bounded_retries():
    client = Client(f"http://127.0.0.1:{free_port()}", "cn_x")
    with pytest.raises(StreamError):
        list(client.stream_events("wr_nothing", max_retries=2, backoff=0.01))


@pytest.mark.docker
def test_run_archive_one_shot_on_a_directory(sdk, tmp_path):
    src = tmp_path / "src"
    (src / "reports").mkdir(parents=True)
    (src / "t.sh").write_text("echo hi; echo '<x/>' > reports/r.xml; exit 0\n")
    (src / ".git").mkdir()
    (src / ".git" / "HEAD").write_text("ref: x")
    seen = []
    result = run_archive(
        sdk,
        src,
        command="sh t.sh && test ! -e .git",
        artifact_paths=["reports/*.xml"],
        out_dir=tmp_path / "out",
        on_event=seen.append,
    )
    assert result.status == "succeeded" and result.exit_code == 0
    assert [e.seq for e in seen] == list(range(1, result.last_seq + 1))
    assert (tmp_path / "out" / "reports" / "r.xml").read_text() == "<x/>\n"
    assert (tmp_path / "out" / "evidence.json").exists()
    assert (
        result.evidence.raw["source"]["archive"]["sha256"]
        == hashlib.sha256(pack_bytes(src)).hexdigest()
    )


class CountingTransport(httpx.HTTPTransport):
    """Records the body bytes of every request the SDK sends."""

    def __init__(self):
        super().__init__()
        self.sent: list[tuple[str, str, int]] = []

    def handle_request(self, request):
        body = request.read()
        self.sent.append((request.method, request.url.path, len(body)))
        return super().handle_request(request)


@pytest.mark.docker
def test_run_archive_twice_sends_the_archive_once(stack, user, tmp_path):
    archive = tmp_path / "repo.tgz"
    archive.write_bytes(make_targz({"u.sh": "echo reuse", "noise.bin": os.urandom(200_000)}))
    size = archive.stat().st_size
    sent = {}
    for attempt in ("first", "second"):
        transport = CountingTransport()
        with Client(stack.base_url, stack.token(user), transport=transport) as client:
            result = run_archive(client, archive, command="sh u.sh")
        assert result.status == "succeeded"
        sent[attempt] = (result.upload_method, transport.sent)
    first_method, first = sent["first"]
    second_method, second = sent["second"]
    assert first_method == "direct" and sum(n for _, _, n in first) >= size
    assert second_method == "reused"
    assert [r for r in second if "/archive" in r[1] or "/transfers" in r[1]] == []
    assert sum(n for _, _, n in second) < 2000  # the create request's JSON only
    print(f"reuse: {sum(n for _, _, n in first)} then {sum(n for _, _, n in second)} bytes sent")


def test_packer_is_deterministic_and_documented(tmp_path):
    src = tmp_path / "p"
    (src / "b").mkdir(parents=True)
    (src / "b" / "z.txt").write_text("z")
    (src / "a.sh").write_text("echo")
    (src / "a.sh").chmod(0o700)
    (src / "link").symlink_to("b/z.txt")
    (src / ".git").mkdir()
    (src / ".git" / "config").write_text("secret-ish")
    first = pack_bytes(src)
    os.utime(src / "a.sh", (1, 1))
    (src / "b" / "z.txt").chmod(0o600)
    assert pack_bytes(src) == first  # mtimes and group/other bits do not matter
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["a.sh", "b", "b/z.txt", "link"]
    assert {m.name: oct(m.mode) for m in members}["a.sh"] == "0o755"
    assert all(m.uid == 0 and m.gid == 0 and m.mtime == 0 for m in members)
    assert members[3].issym() and members[3].linkname == "b/z.txt"
    assert first[4:8] == b"\0\0\0\0"  # gzip header mtime


@pytest.mark.docker
def test_python_example_runs(stack, user, tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "clients/python/examples/run_directory.py"),
         str(ROOT / "examples/hello"), str(tmp_path / "out")],
        env={**os.environ, "CROWNEST_URL": stack.base_url, "CROWNEST_TOKEN": stack.token(user)},
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "succeeded (exit code 0)" in out.stdout
    assert "artifact dist/greeting.txt" in out.stdout
    assert (tmp_path / "out/dist/greeting.txt").read_text() == "Hello from the sandbox!\n"


@pytest.mark.docker
def test_staged_upload_resumes_from_received_bytes(sdk, tmp_path):
    data = make_targz({"big.bin": os.urandom(10 * 1024 * 1024), "ok.sh": "echo staged-ok"})
    path = tmp_path / "big.tgz"
    path.write_bytes(data)
    run = sdk.create_run(template="python-node", command="sh ok.sh", archive=archive_meta(data))
    transfer = sdk.create_transfer(run.id)
    chunk = transfer.chunk_size_bytes
    assert 0 < chunk < len(data) and transfer.status == "open"
    assert sdk.upload_chunk(transfer, data[:chunk], 0, len(data)) == chunk
    with pytest.raises(TransferConflict) as info:  # a gap: the server says where to go on
        sdk.upload_chunk(transfer, data[chunk + 1 :], chunk + 1, len(data))
    assert info.value.received_bytes == chunk
    seen = []
    ready = sdk.upload_staged(
        run.id, path, transfer_id=transfer.id, on_progress=lambda d, t: seen.append(d)
    )
    assert ready.status == "ready" and ready.archive.upload_method == "staged"
    assert seen[-1] == len(data) and seen[0] > chunk  # resumed, not restarted
    sdk.start(run.id)
    events = list(sdk.stream_events(run.id))
    assert events[-1].data["status"] == "succeeded"
    assert "staged-ok\n" in "".join(e.data.get("text", "") for e in events)


@pytest.mark.node
@pytest.mark.docker
def test_typescript_sdk_suite(stack, user):
    """clients/typescript: `npm ci && npm run build && npm test` against this live stack."""
    env = {**os.environ, "CROWNEST_URL": stack.base_url, "CROWNEST_TOKEN": stack.token(user)}
    cwd = ROOT / "clients" / "typescript"
    for cmd in (["npm", "ci", "--no-audit", "--no-fund"], ["npm", "run", "build"], ["npm", "test"]):
        out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, f"{cmd}:\n{out.stdout[-5000:]}\n{out.stderr[-3000:]}"
    # node:test's summary: every test ran and passed (none skipped), whatever their number.
    summary = dict(re.findall(r"^# (tests|pass|fail|skipped|cancelled) (\d+)$", out.stdout, re.M))
    assert summary["tests"] == summary["pass"] != "0", out.stdout[-3000:]
    assert summary["fail"] == summary["skipped"] == summary["cancelled"] == "0", summary
