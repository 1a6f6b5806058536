"""End-to-end overhead of a Workspace Run against a bare `docker run --rm` of the same image,
command and hardening flags, measured in the same invocation.

Needs a running stack (`make up`). Usage: .venv/bin/python bench/run_overhead.py [--reps N]
"""

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crownest_web.settings")

from crownest_client import pack_bytes as pack  # noqa: E402

from scripts.demo import BASE, token  # noqa: E402

COMMANDS = {
    "true": "true",
    "small script": "python3 -c 'import json; print(json.dumps({\"sum\": sum(range(100000))}))'",
}
PHASES = ["queue", "create", "extract", "exec", "collect", "remove", "evidence"]


def bare_docker_args(image: str, command: str) -> list[str]:
    """The hardening flags the Docker sandbox uses (see runs/sandbox/docker.py)."""
    import django

    django.setup()
    from django.conf import settings

    tmpfs = f"rw,exec,nosuid,nodev,size={settings.CROWNEST_SANDBOX_TMP_SIZE},mode=1777"
    return [
        "docker", "run", "--rm", "--network", "none", "--cap-drop", "ALL",
        "--security-opt", "no-new-privileges", "--read-only",
        "--tmpfs", f"/tmp:{tmpfs}", "--tmpfs", f"/home/sandbox:{tmpfs}",
        "--user", settings.CROWNEST_SANDBOX_USER, "--init", "--log-driver", "none",
        "--pids-limit", str(settings.CROWNEST_SANDBOX_PIDS),
        "--memory", settings.CROWNEST_SANDBOX_MEMORY,
        "--memory-swap", settings.CROWNEST_SANDBOX_MEMORY,
        "--cpus", str(settings.CROWNEST_SANDBOX_CPUS),
        image, "/bin/sh", "-c", command,
    ]  # fmt: skip


def time_bare(image: str, command: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(bare_docker_args(image, command), check=True, capture_output=True)
    return time.perf_counter() - t0


def time_api(api: httpx.Client, data: bytes, command: str) -> tuple[float, dict]:
    digest = hashlib.sha256(data).hexdigest()
    t0 = time.perf_counter()
    run = api.post(
        "/workspace-runs",
        json={
            "template": "python-node",
            "command": command,
            "archive": {"sizeBytes": len(data), "sha256": digest, "filename": "bench.tgz"},
            "reuseArchive": False,  # the upload is part of what is measured
        },
    ).json()
    api.put(
        f"/workspace-runs/{run['id']}/archive",
        content=data,
        headers={"Content-Type": "application/gzip"},
    ).raise_for_status()
    api.post(f"/workspace-runs/{run['id']}/start").raise_for_status()
    after = 0
    while True:
        page = api.get(
            f"/workspace-runs/{run['id']}/events", params={"afterSeq": after, "limit": 1000}
        ).json()
        after = page["nextAfterSeq"]
        if page["terminal"]:
            break
        time.sleep(0.01)
    elapsed = time.perf_counter() - t0
    for _ in range(200):  # phases are recorded with the evidence, just after terminal
        final = api.get(f"/workspace-runs/{run['id']}").json()
        if final["evidenceAvailable"] and final["phases"].get("evidence") is not None:
            break
        time.sleep(0.02)
    assert final["status"] == "succeeded", final
    return elapsed, final["phases"]


def main() -> int:
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    api = httpx.Client(
        base_url=f"{BASE}/api/v1", timeout=60, headers={"Authorization": f"Bearer {token()}"}
    )
    image = next(t["image"] for t in api.get("/templates").json() if t["name"] == "python-node")
    data = pack(ROOT / "examples" / "hello")
    print(f"image {image}; archive {len(data)} bytes; {args.reps} reps each, medians\n")
    print(
        f"{'command':<14}{'bare docker run':>16}{'CrowNest run':>14}{'ratio':>8}"
        f"{'target':>10}  phases (s)"
    )
    ok = True
    for name, command in COMMANDS.items():
        time_bare(image, command)  # warm the page cache
        time_api(api, data, command)
        bare, full, phases = [], [], {p: [] for p in PHASES}
        for _ in range(args.reps):  # interleaved, so drift hits both alike
            bare.append(time_bare(image, command))
            elapsed, ph = time_api(api, data, command)
            full.append(elapsed)
            for p in PHASES:
                if p in ph:
                    phases[p].append(ph[p])
        b, f = statistics.median(bare), statistics.median(full)
        target = 1.5 * b + 0.3
        ok &= f <= target
        detail = " ".join(f"{p}={statistics.median(v):.3f}" for p, v in phases.items() if v)
        print(f"{name:<14}{b:>15.3f}s{f:>13.3f}s{f / b:>7.2f}x{target:>9.3f}s  {detail}")
    print("\nwithin target" if ok else "\nover target (1.5 x bare + 0.3 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
