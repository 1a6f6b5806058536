"""Live-output latency and throughput, SSE and websocket, against `docker logs --follow` of a bare
container running the same command, all measured in one invocation.

Needs a running stack (`make up`). Usage: .venv/bin/python bench/stream.py [--flood 200000]
The container prints its own clock; host and container share it, so latency = arrival - stamp.
"""

import argparse
import asyncio
import hashlib
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crownest_client import pack_bytes as pack  # noqa: E402

from bench.run_overhead import bare_docker_args  # noqa: E402
from scripts.demo import BASE, token  # noqa: E402

TICKS = 200
TICK_CMD = (
    f'python3 -c "import time\nfor i in range({TICKS}):\n'
    " print('%.6f' % time.time(), flush=True)\n time.sleep(0.02)\""
)


def flood_cmd(n):
    return f"python3 -c \"import sys\nw=sys.stdout.write\nfor i in range({n}): w('%d\\n' % i)\""


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


class Api:
    def __init__(self):
        self.key = token()
        self.http = httpx.Client(
            base_url=f"{BASE}/api/v1", timeout=60, headers={"Authorization": f"Bearer {self.key}"}
        )
        self.data = pack(ROOT / "examples" / "hello")

    def start(self, command) -> str:
        digest = hashlib.sha256(self.data).hexdigest()
        run = self.http.post(
            "/workspace-runs",
            json={
                "template": "python-node",
                "command": command,
                "timeoutSeconds": 600,
                "archive": {"sizeBytes": len(self.data), "sha256": digest},
                "reuseArchive": False,  # every run measures its own upload
            },
        ).json()
        self.http.put(
            f"/workspace-runs/{run['id']}/archive",
            content=self.data,
            headers={"Content-Type": "application/gzip"},
        ).raise_for_status()
        return run["id"]

    def go(self, run_id):
        self.http.post(f"/workspace-runs/{run_id}/start").raise_for_status()


def lines_of(event, carry):
    """stdout texts are chunks, not lines: rebuild lines, return (complete lines, carry)."""
    text = carry + event["data"]["text"]
    *lines, carry = text.split("\n")
    return lines, carry


async def sse_viewer(key, run_id, on_line, ready):
    url = f"{BASE}/api/v1/workspace-runs/{run_id}/events/stream"
    carry = ""
    async with httpx.AsyncClient(timeout=None) as client:
        async with client.stream("GET", url, headers={"Authorization": f"Bearer {key}"}) as resp:
            ready.set()
            async for line in resp.aiter_lines():
                if line.startswith("data: "):
                    event = json.loads(line[6:])
                    if event["type"] == "stdout":
                        done, carry = lines_of(event, carry)
                        for text in done:
                            on_line(text)


async def ws_viewer(key, run_id, on_line, ready):
    url = BASE.replace("http", "ws", 1) + f"/ws/workspace-runs/{run_id}/events"
    carry = ""
    async with websockets.connect(
        url, additional_headers={"Authorization": f"Bearer {key}"}, max_size=None
    ) as ws:
        ready.set()
        async for msg in ws:
            event = json.loads(msg)
            if event["type"] == "stdout":
                done, carry = lines_of(event, carry)
                for text in done:
                    on_line(text)


async def watch(api: Api, command, viewers):
    """Start a run with `viewers` [(name, viewer_fn)] attached; returns {name: [(t, line)]}."""
    run_id = api.start(command)
    got = {name: [] for name, _ in viewers}
    tasks, readies = [], []
    for name, fn in viewers:
        ready = asyncio.Event()
        readies.append(ready)
        sink = got[name]
        tasks.append(
            asyncio.create_task(
                fn(api.key, run_id, lambda text, s=sink: s.append((time.time(), text)), ready)
            )
        )
    await asyncio.gather(*(r.wait() for r in readies))
    api.go(run_id)
    await asyncio.gather(*tasks)
    return got


def bare(image, command, name):
    """A bare container with Docker's json-file log, read by `docker logs --follow`."""
    args = bare_docker_args(image, command)
    args[2:2] = ["--name", name, "-d"]
    args.remove("--rm")
    i = args.index("--log-driver")
    args[i + 1] = "json-file"
    t0 = time.time()
    subprocess.run(args, check=True, capture_output=True)
    out = []
    with subprocess.Popen(
        ["docker", "logs", "--follow", name], stdout=subprocess.PIPE, text=True
    ) as proc:
        for line in proc.stdout:
            out.append((time.time(), line.rstrip("\n")))
    subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    return t0, out


def latencies(samples):
    return [(t - float(text)) * 1000 for t, text in samples]


def main() -> int:
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser()
    parser.add_argument("--flood", type=int, default=200_000)
    args = parser.parse_args()
    api = Api()
    image = next(t["image"] for t in api.http.get("/templates").json())

    print(f"(a) latency, {TICKS} lines 20 ms apart, one viewer each (ms)")
    got = asyncio.run(watch(api, TICK_CMD, [("sse", sse_viewer), ("ws", ws_viewer)]))
    _, base = bare(image, TICK_CMD, f"bench-{uuid.uuid4().hex[:8]}")
    rows = {
        "docker logs -f": latencies(base),
        "SSE": latencies(got["sse"]),
        "websocket": latencies(got["ws"]),
    }
    for name, lat in rows.items():
        print(f"  {name:<16} n={len(lat):<5} p50={pct(lat, 50):7.1f}  p99={pct(lat, 99):7.1f}")

    print(f"\n(b) throughput, {args.flood} lines")
    t0 = time.time()
    got = asyncio.run(watch(api, flood_cmd(args.flood), [("sse", sse_viewer), ("ws", ws_viewer)]))
    expected = [str(i) for i in range(args.flood)]
    b0, base = bare(image, flood_cmd(args.flood), f"bench-{uuid.uuid4().hex[:8]}")
    bare_rate = len(base) / (base[-1][0] - b0)
    bare_complete = [t for _, t in base] == expected
    print(f"  {'docker logs -f':<16} {bare_rate:10.0f} lines/s  complete={bare_complete}")
    for name in ("sse", "ws"):
        lines = [t for _, t in got[name]]
        rate = len(lines) / (got[name][-1][0] - t0)
        print(
            f"  {name:<16} {rate:10.0f} lines/s  complete={lines == expected}  "
            f"{rate / bare_rate:.0%} of bare (start to last line, incl. run set-up)"
        )

    print("\n(c) latency with concurrent SSE viewers (ms)")
    for n in (1, 10, 50):
        got = asyncio.run(watch(api, TICK_CMD, [(f"v{i}", sse_viewer) for i in range(n)]))
        lat = [x for samples in got.values() for x in latencies(samples)]
        complete = all(len(s) == TICKS for s in got.values())
        print(
            f"  {n:>2} viewers  p50={pct(lat, 50):7.1f}  p99={pct(lat, 99):7.1f}  "
            f"complete={complete}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
