"""Re-run and archive progress through the clients, against the live stack: the Python SDK's
`rerun`, `crownest runs rerun ID`, and the CLI's progress bar (on a terminal only)."""

import os
import pty
import select
import subprocess
import time

import pytest
from crownest_client import Client

from .helpers import CLI, Runs, client_for


@pytest.fixture
def cli_env(cli_env):
    return {**cli_env, "COLUMNS": "160"}


def many_files(count: int) -> dict:
    """Small files in folders: an extraction that takes a moment and reports file counts."""
    return {f"d{i // 500}/f{i}.txt": f"{i}\n" for i in range(count)}


def test_sdk_rerun_runs_the_same_on_the_stored_archive(stack, user):
    runs = Runs(client_for(user))
    first = runs.submit({"r.sh": "echo again; exit 4"}, command="sh r.sh", env={"A": "1"})
    runs.wait(first["id"])
    with Client(stack.base_url, stack.token(user)) as sdk:
        again = sdk.rerun(first["id"])
        assert again.rerun_of == first["id"] and again.status == "ready"
        assert again.archive.upload_method == "reused" and again.env == {"A": "1"}
        sdk.start(again.id)
        events = list(sdk.stream_events(again.id))
    assert events[-1].data["exitCode"] == 4
    assert "".join(e.data["text"] for e in events if e.type == "stdout") == "again\n"


def test_cli_rerun_follows_and_exits_with_the_code(cli_env, user):
    runs = Runs(client_for(user))
    first = runs.submit({"r.sh": "echo from-rerun; exit 3"}, command="sh r.sh")
    runs.wait(first["id"])
    res = subprocess.run(
        [CLI, "runs", "rerun", first["id"], "--follow"],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert res.returncode == 3, res.stderr
    assert res.stdout == "from-rerun\n"
    assert f"re-runs {first['id']}" in res.stderr
    # Piped: no progress bar, not even its words.
    assert "extracting" not in res.stderr and "━" not in res.stderr
    plain = subprocess.run(
        [CLI, "runs", "rerun", first["id"]], env=cli_env, capture_output=True, text=True
    )
    assert plain.returncode == 0, plain.stderr
    assert '"rerunOf": "' + first["id"] in plain.stdout and '"status": "ready"' in plain.stdout


def read_pty(fd, proc, timeout=120) -> str:
    out, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    return out.decode("utf-8", "replace")


def test_cli_shows_archive_progress_on_a_terminal(cli_env, user):
    runs = Runs(client_for(user))
    run = runs.submit(many_files(3000), command="sleep 1; echo done")
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [CLI, "runs", "events", run["id"], "--follow"],
        env={**cli_env, "TERM": "xterm-256color"},
        stdin=follower,
        stdout=follower,
        stderr=follower,
        close_fds=True,
    )
    os.close(follower)
    screen = read_pty(leader, proc)
    os.close(leader)
    assert proc.wait(timeout=30) == 0, screen
    assert "extracting into /workspace" in screen, screen[-2000:]
    assert "3,000 files" in screen
    assert "done" in screen
