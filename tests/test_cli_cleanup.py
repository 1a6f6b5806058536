"""The CLI cleans up after itself and says each thing once: a run it created but could not start
is canceled (or the exact command to cancel it is printed); one result line, one duration format,
never "exit code None"; every exit code in docs/cli.md's table is one the CLI gives, and each is
tested (here through the mapping, in tests/test_cli.py through real runs)."""

import io
import json
import re
import subprocess
import tarfile

import httpx
import pytest
from crownest_client import ArchiveRejected, Client, NotAuthenticated, RunNotStarted, run_archive
from crownest_client import cli_common as common
from crownest_client.cli_oneshot import not_started
from crownest_client.errors import ApiError, StreamError

from .helpers import CLI, ROOT, make_targz

# --- exit codes -----------------------------------------------------------------------------


def documented_codes() -> set[str]:
    text = (ROOT / "docs" / "cli.md").read_text()
    table = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| (\d+(?:–\d+)?) \|", table, re.M))


def test_the_exit_code_table_lists_exactly_the_codes_the_cli_gives():
    given = {
        common.EXIT_USAGE,
        common.EXIT_REJECTED,
        common.EXIT_SERVICE,
        common.EXIT_RUN_ERROR,
        common.EXIT_AUTH,
        common.EXIT_TIMEOUT,
        common.EXIT_CANCELED,
        common.EXIT_OOM,
        common.EXIT_NOT_VERIFIED,
        0,
    }
    assert documented_codes() == {str(code) for code in given} | {"1–255"}


@pytest.mark.parametrize(
    "terminal, code",
    [
        ({"status": "succeeded", "exitCode": 0}, 0),
        ({"status": "failed", "failureReason": "exit_code", "exitCode": 3}, 3),
        ({"status": "failed", "failureReason": "exit_code", "exitCode": 255}, 255),
        ({"status": "failed", "failureReason": "timeout", "exitCode": 143}, 124),
        ({"status": "canceled", "exitCode": None}, 130),
        ({"status": "failed", "failureReason": "oom_killed", "exitCode": 137}, 137),
        ({"status": "failed", "failureReason": "archive_invalid", "exitCode": None}, 65),
        ({"status": "failed", "failureReason": "sandbox_error", "exitCode": None}, 70),
        ({"status": "failed", "failureReason": "lost_worker", "exitCode": None}, 70),
        ({"status": "failed", "failureReason": "output_limit", "exitCode": 0}, 70),
        ({"status": "failed", "failureReason": "disk_limit", "exitCode": 1}, 70),
    ],
)
def test_a_runs_end_maps_to_its_documented_exit_code(terminal, code):
    assert common.exit_code_for(terminal) == code


@pytest.mark.parametrize(
    "error, code",
    [
        (ArchiveRejected(422, "archive_unsafe", "no"), 65),
        (NotAuthenticated(401, "not_authenticated", "no"), 77),
        (ApiError(404, "not_found", "no"), 69),
        (ApiError(503, "storage_unavailable", "later"), 69),
        (StreamError("lost"), 69),
        (httpx.ConnectError("refused"), 69),
        (BrokenPipeError(32, "Broken pipe"), 69),
    ],
)
def test_an_error_maps_to_its_documented_exit_code(error, code):
    assert common.exit_code_for_error(error) == code


# --- the result line ------------------------------------------------------------------------


def test_one_result_line_one_duration_format_and_no_none():
    line = common.result_line
    assert line({"status": "succeeded", "exitCode": 0, "durationSeconds": 4.85}) == (
        "[bold]--- succeeded[/bold] (exit code 0, 4.8 s)"
    )
    failed = {"status": "failed", "exitCode": 3, "failureReason": "exit_code"}
    assert line({**failed, "durationSeconds": 46.674}) == (
        "[bold]--- failed[/bold] (exit code 3, 46.7 s)"
    )
    timeout = {"status": "failed", "exitCode": 143, "failureReason": "timeout"}
    assert line({**timeout, "durationSeconds": 2.0}).endswith("(exit code 143, timeout, 2.0 s)")
    canceled = line({"status": "canceled", "exitCode": None, "failureReason": None,
                     "durationSeconds": None})  # fmt: skip
    assert canceled == "[bold]--- canceled[/bold]" and "None" not in canceled


# --- a run that could not start -------------------------------------------------------------

RUN = {
    "id": "wr_NOTSTARTED",
    "status": "awaiting_archive",
    "template": "python-node",
    "command": "true",
    "archive": {"sizeBytes": 1, "sha256": "0" * 64, "filename": "a.tgz"},
}


def fake_service(cancel_answer):
    """A service that creates the run, drops the upload (a broken pipe), then answers cancel."""
    calls = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append((request.method, request.url.path))
        if request.url.path.endswith("/workspace-runs"):
            return httpx.Response(201, json=RUN)
        if request.url.path.endswith("/archive"):
            raise httpx.WriteError("[Errno 32] Broken pipe")
        return cancel_answer(request)

    return calls, handle


@pytest.mark.parametrize("cancel_works", [True, False])
def test_a_run_that_could_not_start_is_canceled_or_reported(tmp_path, capsys, cancel_works):
    def cancel(request):
        if cancel_works:
            return httpx.Response(202, json={**RUN, "status": "canceled"})
        raise httpx.ConnectError("connection refused")

    calls, handle = fake_service(cancel)
    archive = tmp_path / "repo.tgz"
    archive.write_bytes(make_targz({"x": "x"}))
    with Client("http://crownest.test", "cn_x", transport=httpx.MockTransport(handle)) as client:
        with pytest.raises(RunNotStarted) as info:
            run_archive(client, archive, command="true")
    failed = info.value
    assert failed.run_id == RUN["id"] and isinstance(failed.cause, httpx.WriteError)
    assert failed.canceled is cancel_works
    assert ("POST", f"/api/v1/workspace-runs/{RUN['id']}/cancel") in calls
    assert not_started(failed, archive) == 69
    said = capsys.readouterr().err
    if cancel_works:
        assert f"run {RUN['id']} could not start, so it was canceled" in said
    else:
        assert f"crownest runs cancel {RUN['id']}" in said
        assert f"crownest runs upload {RUN['id']} {archive}" in said


# --- through the real CLI, against the live stack -------------------------------------------


def crownest(env, *args):
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=180)


def unsafe_targz() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("../escape.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    return buf.getvalue()


def test_a_refused_archive_leaves_no_run_waiting(cli_env, tmp_path):
    archive = tmp_path / "evil.tgz"
    archive.write_bytes(unsafe_targz())
    res = crownest(cli_env, "run-archive", str(archive), "-c", "true")
    assert res.returncode == 65, res.stderr
    assert "archive_unsafe" in res.stderr and "so it was canceled" in res.stderr
    run_id = re.search(r"run (wr_\w+) could not start", res.stderr).group(1)
    got = httpx.get(
        f"{cli_env['CROWNEST_URL']}/api/v1/workspace-runs/{run_id}",
        headers={"Authorization": f"Bearer {cli_env['CROWNEST_TOKEN']}"},
    ).json()
    assert got["status"] == "canceled"


def test_a_run_ends_with_one_result_line(cli_env, tmp_path):
    archive = tmp_path / "repo.tgz"
    archive.write_bytes(make_targz({"x.txt": "x"}))
    res = crownest(cli_env, "run-archive", str(archive), "-c", "cat x.txt; exit 3", "--json")
    assert res.returncode == 3, res.stderr
    results = [line for line in res.stderr.splitlines() if line.startswith("--- failed")]
    assert len(results) == 1, res.stderr
    assert re.fullmatch(r"--- failed \(exit code 3, \d+\.\d s\)", results[0]), results
    assert "None" not in res.stderr
    assert json.loads(res.stdout)["exitCode"] == 3
