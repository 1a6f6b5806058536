"""Artifact collection against a hostile run, through the API with the real worker and Docker: the
run controls every name, link and file type in its workspace, and none of them may make the
collector look at the worker host, block, walk without end, or fail the run."""

import pytest
from django.conf import settings

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("worker")]

# Paths through a link to the host's /: each "exists on the host" path has a twin that does not.
INSTALL = str(settings.BASE_DIR).strip("/")
PAIRS = [
    (f"root/{INSTALL}/var/evidence-key.pem", f"root/{INSTALL}/var/no-such-key.pem"),
    ("root/etc/passwd", "root/etc/no-such-file"),
    ("root/etc/host*", "root/etc/no-such-file*"),
    ("root/etc/*/", "root/no-such-dir/*/"),
    ("**/passwd", "**/no-such-file"),
    ("*/etc/hosts", "*/no-such-dir/hosts"),
]
MKSOCK = "python3 -c \"import socket; socket.socket(socket.AF_UNIX).bind('{}')\""


def errors_of(runs, run_id) -> dict:
    return {
        e["data"]["path"]: e["data"] for e in runs.events(run_id) if e["type"] == "artifact_error"
    }


def artifacts_of(api, run_id) -> dict:
    listed = api.get(f"/api/v1/workspace-runs/{run_id}/artifacts").json()
    return {a["path"]: a for a in listed}


def body_of(api, artifact) -> bytes:
    return b"".join(api.get(f"/api/v1/artifacts/{artifact['id']}/download").streaming_content)


def test_links_to_the_host_root_reveal_nothing_of_the_host(runs, api):
    paths = [p for pair in PAIRS for p in pair]
    run = runs.submit({"a.txt": "a"}, command="ln -s / root && ln -s /etc etc", artifactPaths=paths)
    # The host is never walked: the run ends on its own, long before any lost-worker window.
    done = runs.wait(run["id"], timeout=60)
    assert (done["status"], done["exitCode"]) == ("succeeded", 0), runs.events(run["id"])[-3:]
    assert artifacts_of(api, run["id"]) == {}
    errors = errors_of(runs, run["id"])
    assert set(errors) == set(paths)  # one answer per path asked, nothing named from the host
    for on_host, nowhere in PAIRS:
        same = {k: v for k, v in errors[on_host].items() if k != "path"}
        assert same == {k: v for k, v in errors[nowhere].items() if k != "path"}, on_host
    assert errors["root/etc/passwd"]["code"] == "outside_workspace"
    assert errors["root/etc/host*"]["code"] == "outside_workspace"
    assert errors["**/passwd"]["code"] == "no_match"  # `**` does not enter linked directories


def test_fifo_socket_and_device_are_refused_without_blocking(runs, api):
    command = (
        "mkdir -p out && echo kept > out/ok.txt && mkfifo f out/f && "
        f"{MKSOCK.format('sock')} && {MKSOCK.format('out/sock')} && "
        "(mknod dev c 1 3 2>&1 || echo mknod refused)"
    )
    run = runs.submit({"a.txt": "a"}, command=command, artifactPaths=["f", "sock", "dev", "out/"])
    done = runs.wait(run["id"], timeout=60)
    assert (done["status"], done["exitCode"]) == ("succeeded", 0), runs.events(run["id"])[-3:]
    # The sandbox has no CAP_MKNOD, so it cannot make a device node; FIFOs and sockets it can.
    assert "mknod refused" in runs.output(run["id"])
    errors = {path: e["code"] for path, e in errors_of(runs, run["id"]).items()}
    assert errors == {
        "f": "not_regular_file",
        "sock": "not_regular_file",
        "dev": "no_match",
        "out/f": "not_regular_file",
        "out/sock": "not_regular_file",
    }
    collected = artifacts_of(api, run["id"])
    assert list(collected) == ["out/ok.txt"]
    assert body_of(api, collected["out/ok.txt"]) == b"kept\n"


def test_names_that_are_not_utf8_are_collected_with_percent_escapes(runs, api):
    script = (
        "import os\nos.makedirs('out')\n"
        "for name in (b'out/bad\\xff.txt', b'out/p%\\xfe', b'out/caf\\xc3\\xa9.txt'):\n"
        "    open(name, 'wb').write(name)\n"
    )
    run = runs.submit({"make.py": script}, command="python3 make.py", artifactPaths=["out/"])
    done = runs.wait(run["id"], timeout=60)
    assert (done["status"], done["exitCode"]) == ("succeeded", 0), runs.events(run["id"])[-3:]
    collected = artifacts_of(api, run["id"])
    assert sorted(collected) == ["out/bad%FF.txt", "out/café.txt", "out/p%25%FE"]
    assert body_of(api, collected["out/bad%FF.txt"]) == b"out/bad\xff.txt"
    assert body_of(api, collected["out/p%25%FE"]) == b"out/p%\xfe"
    assert errors_of(runs, run["id"]) == {}


def test_a_deep_tree_is_walked_to_the_depth_bound_and_the_cut_reported(runs, api):
    depth = settings.CROWNEST_COLLECT_MAX_DEPTH
    deep = "/".join(["d"] * (depth + 5))
    command = f"mkdir -p {deep} && echo top > d/top.txt && echo leaf > {deep}/leaf.txt"
    run = runs.submit({"a.txt": "a"}, command=command, artifactPaths=["d/", "**/leaf.txt"])
    done = runs.wait(run["id"], timeout=60)
    assert (done["status"], done["exitCode"]) == ("succeeded", 0), runs.events(run["id"])[-3:]
    assert list(artifacts_of(api, run["id"])) == ["d/top.txt"]
    refused = [e["data"] for e in runs.events(run["id"]) if e["type"] == "artifact_error"]
    cut = [e for e in refused if e["code"] == "walk_limit"]  # one for each path asked
    assert len(cut) == 2 and all(f"{depth} levels" in e["message"] for e in cut), refused
    assert all(e["path"].startswith("d/d/d/") for e in cut)
    assert errors_of(runs, run["id"])["**/leaf.txt"]["code"] == "no_match"


def test_links_inside_the_workspace_are_followed_relative_or_absolute(runs, api):
    command = (
        "mkdir -p sub && echo m > m.txt && echo x > sub/x.txt && "
        "ln -s /workspace/m.txt abs && ln -s /workspace/sub absdir && ln -s ../m.txt sub/up && "
        "ln -s /workspace/../etc/passwd sneaky && ln -s loop loop"
    )
    paths = ["abs", "absdir/x.txt", "sub/up", "absdir/", "sneaky", "loop"]
    run = runs.submit({"a.txt": "a"}, command=command, artifactPaths=paths)
    done = runs.wait(run["id"], timeout=60)
    assert (done["status"], done["exitCode"]) == ("succeeded", 0), runs.events(run["id"])[-3:]
    collected = artifacts_of(api, run["id"])
    assert sorted(collected) == ["abs", "absdir/up", "absdir/x.txt", "sub/up"]
    assert body_of(api, collected["abs"]) == b"m\n"
    assert body_of(api, collected["absdir/up"]) == b"m\n"
    errors = {path: e["code"] for path, e in errors_of(runs, run["id"]).items()}
    assert errors == {"sneaky": "outside_workspace", "loop": "unreadable"}
