"""The `crownest` command line as a user runs it: a subprocess against the live stack."""

import json
import signal
import stat
import subprocess

import httpx

from .helpers import CLI, LINES, CutProxy, make_targz, wait_until


def crownest(env, *args, timeout=180):
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=timeout)


def api_get(env, path):
    resp = httpx.get(
        f"{env['CROWNEST_URL']}/api/v1{path}",
        headers={"Authorization": f"Bearer {env['CROWNEST_TOKEN']}"},
    )
    return resp.json()


def start_cli(env, *args):
    return subprocess.Popen(
        [CLI, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for_running(env, proc):
    """The run id the CLI prints first on stderr, once the run is running."""
    line = proc.stderr.readline()
    assert "--- run wr_" in line, line
    run_id = line.split()[-1]
    wait_for_status(env, run_id, "running", timeout=60)
    return run_id


def wait_for_status(env, run_id, status, timeout):
    wait_until(
        lambda: api_get(env, f"/workspace-runs/{run_id}")["status"] == status,
        timeout=timeout,
        message=f"{run_id} never {status}",
    )


def test_one_shot_on_a_directory(cli_env, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "b.sh").write_text(
        "echo to-out; echo to-err >&2; mkdir -p dist; echo $GREETING > dist/g\n"
    )
    out = tmp_path / "out"
    res = crownest(
        cli_env, "run-archive", str(src), "--command", "sh b.sh", "--artifact", "dist/",
        "--env", "GREETING=hej", "--timeout", "60", "--out", str(out),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert res.stdout == "to-out\n"
    assert "to-err\n" in res.stderr and "to-out" not in res.stderr
    assert (out / "dist" / "g").read_text() == "hej\n"
    evidence = json.loads((out / "evidence.json").read_text())
    assert evidence["schema"] == "crownest.evidence/v1" and evidence["status"] == "succeeded"


def test_one_shot_on_a_tgz_mirrors_the_exit_code_and_prints_json(cli_env, tmp_path):
    archive = tmp_path / "repo.tgz"
    archive.write_bytes(make_targz({"x.txt": "x"}))
    res = crownest(cli_env, "run-archive", str(archive), "-c", "cat x.txt; exit 3", "--json")
    assert res.returncode == 3, res.stderr
    result = json.loads(res.stdout)  # with --json, stdout holds only the result
    assert result["status"] == "failed" and result["exitCode"] == 3
    assert result["failureReason"] == "exit_code" and result["uploadMethod"] == "direct"
    assert "x" in res.stderr


def test_second_run_of_an_archive_reuses_it_and_sends_no_bytes(cli_env, tmp_path, settings):
    archive = tmp_path / "repo.tgz"
    archive.write_bytes(make_targz({"u.sh": "echo once", "noise.bin": b"n" * 50_000}))
    first = crownest(cli_env, "run-archive", str(archive), "-c", "sh u.sh", "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["uploadMethod"] == "direct"
    assert "reusing" not in first.stderr
    stored = sorted(settings.MEDIA_ROOT.glob("archives/*/*.tar.gz"))
    second = crownest(cli_env, "run-archive", str(archive), "-c", "sh u.sh", "--json")
    assert second.returncode == 0, second.stderr
    assert "archive already uploaded, reusing" in second.stderr
    result = json.loads(second.stdout)
    assert result["uploadMethod"] == "reused" and result["status"] == "succeeded"
    # Nothing was received for it: no upload progress, no transfer, no new stored file.
    events = api_get(cli_env, f"/workspace-runs/{result['runId']}/events?limit=1000")["events"]
    phases = {e["data"]["phase"] for e in events if e["type"] == "archive_progress"}
    assert "upload" not in phases and "verify" not in phases and "extract" in phases
    assert sorted(settings.MEDIA_ROOT.glob("archives/*/*.tar.gz")) == stored
    created = crownest(cli_env, "runs", "create", "--archive", str(archive), "-c", "true")
    assert created.returncode == 0 and "archive already uploaded, reusing" in created.stderr
    assert json.loads(created.stdout)["status"] == "ready"
    assert crownest(cli_env, "runs", "cancel", json.loads(created.stdout)["id"]).returncode == 0
    # Opting out uploads again.
    third = crownest(cli_env, "run-archive", str(archive), "-c", "true", "--json", "--no-reuse")
    assert json.loads(third.stdout)["uploadMethod"] == "direct", third.stderr


def test_timeout_exits_124(cli_env, tmp_path):
    archive = tmp_path / "repo.tgz"
    archive.write_bytes(make_targz({"x.txt": "x"}))
    res = crownest(cli_env, "run-archive", str(archive), "-c", "sleep 60", "--timeout", "2")
    assert res.returncode == 124, res.stderr


def test_canceled_elsewhere_exits_130_and_step_cancel_works(cli_env, tmp_path):
    archive = tmp_path / "repo.tgz"
    archive.write_bytes(make_targz({"x.txt": "x"}))
    proc = start_cli(cli_env, "run-archive", str(archive), "-c", "sleep 60")
    run_id = wait_for_running(cli_env, proc)
    res = crownest(cli_env, "runs", "cancel", run_id)
    assert res.returncode == 0 and json.loads(res.stdout)["cancelRequested"] is True
    assert proc.wait(60) == 130
    assert api_get(cli_env, f"/workspace-runs/{run_id}")["status"] == "canceled"


def test_ctrl_c_prints_how_to_resume_and_cancel_on_interrupt_cancels(cli_env, tmp_path):
    archive = tmp_path / "repo.tgz"
    archive.write_bytes(make_targz({"x.txt": "x"}))
    proc = start_cli(cli_env, "run-archive", str(archive), "-c", "sleep 3; echo finished")
    run_id = wait_for_running(cli_env, proc)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 130
    hint = proc.stderr.read()
    assert f"crownest runs events {run_id} --after-seq" in hint and "--follow" in hint
    resumed = crownest(cli_env, "runs", "events", run_id, "--after-seq", "0", "--follow")
    assert resumed.returncode == 0 and resumed.stdout == "finished\n"

    proc = start_cli(
        cli_env, "run-archive", str(archive), "-c", "sleep 60", "--cancel-on-interrupt"
    )
    run_id = wait_for_running(cli_env, proc)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 130
    wait_for_status(cli_env, run_id, "canceled", timeout=30)


def test_rejected_archive_api_error_and_usage_exit_codes(cli_env, tmp_path):
    notgz = tmp_path / "plain.tgz"
    notgz.write_bytes(b"not a gzip archive at all")
    res = crownest(cli_env, "run-archive", str(notgz), "-c", "true")
    assert res.returncode == 65 and "unsupported_archive" in res.stderr
    assert crownest(cli_env, "run-archive", str(notgz)).returncode == 2  # no --command
    assert crownest(cli_env, "runs", "get", "wr_missing").returncode == 69
    bad = {**cli_env, "CROWNEST_TOKEN": "cn_wrong"}
    assert crownest(bad, "templates").returncode == 77
    nothing = {k: v for k, v in cli_env.items() if k not in ("CROWNEST_URL", "CROWNEST_TOKEN")}
    assert crownest(nothing, "templates").returncode == 2


def test_login_writes_a_private_config_that_later_commands_use(cli_env, tmp_path):
    env = {k: v for k, v in cli_env.items() if k not in ("CROWNEST_URL", "CROWNEST_TOKEN")}
    env.pop("CROWNEST_CONFIG")
    env["HOME"] = str(tmp_path)
    env.pop("XDG_CONFIG_HOME", None)
    res = crownest(
        env, "login", "--url", cli_env["CROWNEST_URL"], "--token", cli_env["CROWNEST_TOKEN"]
    )
    assert res.returncode == 0, res.stderr
    path = tmp_path / ".config" / "crownest" / "config.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["token"] == cli_env["CROWNEST_TOKEN"]
    res = crownest(env, "templates")
    assert res.returncode == 0 and json.loads(res.stdout)[0]["name"] == "python-node"
    res = crownest(env, "login", "--url", cli_env["CROWNEST_URL"], "--token", "cn_bad")
    assert res.returncode == 77


def test_output_survives_cut_connections(cli_env, tmp_path):
    archive = tmp_path / "repo.tgz"
    archive.write_bytes(make_targz({"x.txt": "x"}))
    proxy = CutProxy(cli_env["CROWNEST_URL"], cut_after=900, cuts=3)
    try:
        res = crownest(
            {**cli_env, "CROWNEST_URL": proxy.url}, "run-archive", str(archive), "-c", LINES
        )
    finally:
        proxy.close()
    assert res.returncode == 0, res.stderr
    assert proxy.cuts == 3
    assert res.stdout.splitlines() == [f"line{i}" for i in range(1, 41)]


def test_step_by_step_commands(cli_env, tmp_path):
    archive = tmp_path / "repo.tgz"
    archive.write_bytes(make_targz({"r.sh": "mkdir -p o; echo 1 > o/a; echo 2 > o/b; echo done"}))
    run = json.loads(crownest(cli_env, "runs", "create", "--archive", str(archive),
                              "-c", "sh r.sh", "-a", "o/").stdout)  # fmt: skip
    assert run["status"] == "awaiting_archive"
    res = crownest(cli_env, "runs", "upload", run["id"], str(archive))
    assert json.loads(res.stdout)["status"] == "ready" and "direct" in res.stderr
    assert json.loads(crownest(cli_env, "runs", "start", run["id"]).stdout)["status"] == "queued"
    res = crownest(cli_env, "runs", "events", run["id"], "--follow")
    assert res.returncode == 0 and res.stdout == "done\n"
    res = crownest(cli_env, "runs", "events", run["id"], "--json")
    events = [json.loads(line) for line in res.stdout.splitlines()]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert json.loads(crownest(cli_env, "runs", "get", run["id"]).stdout)["exitCode"] == 0
    listed = json.loads(crownest(cli_env, "runs", "list").stdout)
    assert run["id"] in [r["id"] for r in listed["results"]]
    paths = [
        a["path"] for a in json.loads(crownest(cli_env, "artifacts", "list", run["id"]).stdout)
    ]
    assert sorted(paths) == ["o/a", "o/b"]
    res = crownest(cli_env, "artifacts", "download", run["id"], "--out", str(tmp_path / "dl"))
    assert (tmp_path / "dl/o/b").read_text() == "2\n"
    res = crownest(cli_env, "evidence", "get", run["id"], "--out", str(tmp_path / "e.json"))
    assert json.loads((tmp_path / "e.json").read_text())["runId"] == run["id"]
