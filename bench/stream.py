"""Live output against `docker logs --follow`, in one invocation: latency with one viewer (SSE and
websocket), a flood with 50 viewers, a thousand viewers over four web processes behind nginx,
and the run page with 100,000 lines in Chromium. Prints each target with met / not met.

Needs a running stack (`make up`, PostgreSQL as DATABASE_URL for the connection counts) and this
shell's environment being the stack's. Usage:
    .venv/bin/python bench/stream.py [--only a,b,c,d] [--flood 200000] [--viewers 1000]
The container prints its own clock; host and container share it, so latency = arrival - stamp.
"""

import argparse
import hashlib
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crownest_client import pack_bytes as pack  # noqa: E402

from bench.run_overhead import bare_docker_args  # noqa: E402
from bench.stream_clients import watch_in_processes  # noqa: E402
from bench.stream_fleet import Fleet  # noqa: E402
from scripts.demo import BASE, token  # noqa: E402

TICKS = 200
TICK_CMD = (
    f'python3 -c "import time\nfor i in range({TICKS}):\n'
    " print('%.6f' % time.time(), flush=True)\n time.sleep(0.02)\""
)
RESULTS: list[tuple[str, bool, str]] = []


def flood_cmd(n):
    return f"python3 -c \"import sys\nw=sys.stdout.write\nfor i in range({n}): w('%d\\n' % i)\""


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else -1


def target(name: str, ok: bool, detail: str) -> None:
    RESULTS.append((name, ok, detail))
    print(f"  TARGET {name}: {'met' if ok else 'NOT MET'} ({detail})", flush=True)


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


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
            },
        ).json()
        if run["status"] != "ready":
            self.http.put(
                f"/workspace-runs/{run['id']}/archive",
                content=self.data,
                headers={"Content-Type": "application/gzip"},
            ).raise_for_status()
        return run["id"]

    def go(self, run_id):
        self.http.post(f"/workspace-runs/{run_id}/start").raise_for_status()


def observe(api, command, kinds, *, stamps, base=BASE, processes=1, on_ready=None):
    """Viewers of `kinds` on a new run of `command`; started once they are all connected.
    Returns (time of the start request, results)."""
    run_id = api.start(command)
    started = []

    def go():
        if on_ready:
            on_ready()
        started.append(time.time())
        api.go(run_id)

    results = watch_in_processes(
        base, run_id, api.key, kinds, stamps=stamps, on_ready=go, processes=processes
    )
    return started[0], results


def bare(image, command):
    """A bare container with Docker's json-file log, read by `docker logs --follow`."""
    name = f"bench-{uuid.uuid4().hex[:8]}"
    args = bare_docker_args(image, command)
    args[2:2] = ["--name", name, "-d"]
    args.remove("--rm")
    args[args.index("--log-driver") + 1] = "json-file"
    t0 = time.time()
    subprocess.run(args, check=True, capture_output=True)
    out = []
    with subprocess.Popen(["docker", "logs", "--follow", name], stdout=subprocess.PIPE) as proc:
        for line in proc.stdout:
            out.append((time.time(), line))
    subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    return t0, out


def complete(r, expected_lines=None) -> bool:
    ok = not r["error"] and not r["gaps"] and r["terminal"]
    if expected_lines is not None:
        ok = ok and len(r["latencies"]) == expected_lines
    return ok


def latency_one_viewer(api, image):
    print(f"(a) latency, {TICKS} lines 20 ms apart, one viewer each (ms)   [{load()}]")
    _, base = bare(image, TICK_CMD)
    bare_lat = [(t - float(line)) * 1000 for t, line in base]
    print(f"  {'docker logs -f':<14} p50={pct(bare_lat, 50):7.1f}  p99={pct(bare_lat, 99):7.1f}")
    _, (sse, ws) = observe(api, TICK_CMD, ["sse", "ws"], stamps=True)
    for name, r in (("SSE", sse), ("websocket", ws)):
        lat, commit = r["latencies"], r["commit"]
        deliver = [a - c for a, c in zip(lat, commit, strict=True)]
        print(
            f"  {name:<14} p50={pct(lat, 50):7.1f}  p99={pct(lat, 99):7.1f}   "
            f"(to the flush: p50={pct(commit, 50):.1f} p99={pct(commit, 99):.1f}; flush to "
            f"viewer: p50={pct(deliver, 50):.1f} p99={pct(deliver, 99):.1f})  "
            f"complete={complete(r, TICKS)}"
        )
        target(
            f"one viewer, {name}: p50 < 15 ms and p99 < 50 ms",
            pct(lat, 50) < 15 and pct(lat, 99) < 50 and complete(r, TICKS),
            f"p50 {pct(lat, 50):.1f} ms, p99 {pct(lat, 99):.1f} ms",
        )


def flood(api, image, n, viewers):
    print(f"\n(b) flood of {n} lines, {viewers} viewers (half SSE, half websocket)   [{load()}]")
    b0, base = bare(image, flood_cmd(n))
    expected = "".join(f"{i}\n" for i in range(n))
    bare_rate = len(base) / (base[-1][0] - b0)
    bare_ok = b"".join(line for _, line in base).decode() == expected
    print(f"  {'docker logs -f':<14} {bare_rate:10.0f} lines/s  complete={bare_ok}")
    kinds = ["sse", "ws"] * (viewers // 2)
    t0, results = observe(api, flood_cmd(n), kinds, stamps=False, processes=2)
    rates = [n / (r["last_stdout"] - t0) if r["last_stdout"] else 0 for r in results]
    whole = [complete(r) and r["text"] == expected for r in results]
    for kind in ("sse", "ws"):
        mine = [rate for rate, r in zip(rates, results, strict=True) if r["kind"] == kind]
        print(f"  {kind:<14} {min(mine):10.0f} lines/s slowest viewer, {max(mine):.0f} fastest")
    errors = sorted({r["error"] or r["cut"] for r in results if r["error"] or r["cut"]})
    print(f"  complete and in order: {sum(whole)}/{len(results)}; errors/cuts: {errors[:3]}")
    print(f"  the run's log: {results[0]['last_seq']} events (flushes batched the lines)")
    slowest = min(rates)
    target(
        f"flood, {viewers} viewers: >= 100% of docker logs -f lines/s, every viewer complete",
        slowest >= bare_rate and all(whole),
        f"slowest viewer {slowest:.0f} lines/s = {slowest / bare_rate:.0%} of {bare_rate:.0f}; "
        f"{sum(whole)}/{len(results)} complete (start request to last line, incl. set-up)",
    )


def settle(fleet, quiet=0.25, most=30.0) -> float:
    """Wait until the web processes are done with the viewers' connections (using less than
    `quiet` of a core over a second): the run then starts on a tier that only streams."""
    t0 = time.monotonic()
    before = fleet.cpu_seconds()
    while time.monotonic() - t0 < most:
        time.sleep(1)
        now = fleet.cpu_seconds()
        if now - before < quiet:
            break
        before = now
    return time.monotonic() - t0


def thousand(api, viewers, processes, command=""):
    print(f"\n(c) {viewers} viewers (half SSE, half websocket) over {processes} web processes")
    with Fleet(processes, command) as fleet:
        time.sleep(2)  # let the fresh processes settle before the baseline
        before = fleet.rss_mib()
        peak_rss, peak_db, ready = list(before), [0] * processes, {}
        stop = threading.Event()

        def sample():
            while not stop.wait(0.5):
                rss, db = fleet.rss_mib(), fleet.db_connections()
                for i in range(processes):
                    peak_rss[i], peak_db[i] = max(peak_rss[i], rss[i]), max(peak_db[i], db[i])

        def on_ready():
            ready["rss"], ready["db"] = fleet.rss_mib(), fleet.db_connections()
            ready["load"] = load()
            ready["settled"] = settle(fleet)
            ready["cpu"] = fleet.cpu_seconds()

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        cpu = fleet.cpu_seconds()
        kinds = ["sse", "ws"] * (viewers // 2)
        _, results = observe(
            api, TICK_CMD, kinds, stamps=True, base=fleet.base, processes=2, on_ready=on_ready
        )
        stop.set()
        sampler.join()
        connecting, streaming = ready["cpu"] - cpu, fleet.cpu_seconds() - ready["cpu"]
    print(f"  [{ready['load']}]  (the run started {ready['settled']:.1f} s after all connected)")
    lat = [x for r in results for x in r["latencies"]]
    errors = [r["error"] or r["cut"] for r in results if r["error"] or r["cut"]]
    whole = sum(complete(r, TICKS) for r in results)
    print(f"  latency p50={pct(lat, 50):.1f} ms p99={pct(lat, 99):.1f} ms max={max(lat):.1f}")
    for kind in ("sse", "ws"):
        mine = [x for r in results if r["kind"] == kind for x in r["latencies"]]
        print(f"    {kind}: p50={pct(mine, 50):.1f} ms p99={pct(mine, 99):.1f} ms")
    print(f"  complete {whole}/{len(results)}; errors {len(errors)} {sorted(set(errors))[:3]}")
    clients = sum(r["client_cpu"] for r in results)
    sent = sum(r["last_seq"] for r in results)  # events delivered, all viewers together
    print(
        f"  web processes' CPU: {connecting:.1f} s for the viewers' connections, {streaming:.1f} s "
        f"for the run's {sent} deliveries ({streaming / sent * 1e6:.0f} us each); the viewers' "
        f"2 client processes {clients:.1f} s"
    )
    per = viewers / processes
    for i in range(processes):
        grown = ready["rss"][i] - before[i]
        print(
            f"  web {i + 1}: RSS {before[i]:.0f} MiB idle, {ready['rss'][i]:.0f} MiB with "
            f"~{per:.0f} viewers ({grown * 1024 / per:.0f} KiB each), peak {peak_rss[i]:.0f} "
            f"MiB; database connections {ready['db'][i]} with viewers, peak {peak_db[i]}"
        )
    target(
        f"{viewers} viewers over {processes} web processes: p99 < 500 ms, 0 errors, all complete",
        pct(lat, 99) < 500 and not errors and whole == len(results),
        f"p99 {pct(lat, 99):.1f} ms, {len(errors)} errors, {whole}/{len(results)} complete",
    )


def main() -> int:
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="a,b,c,d")
    parser.add_argument("--flood", type=int, default=200_000)
    parser.add_argument("--flood-viewers", type=int, default=50)
    parser.add_argument("--viewers", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--page-lines", type=int, default=100_000)
    parser.add_argument(
        "--web-command",
        default="",
        help="for (c): another web server's command ($PORT its "
        "port) to compare with the one scripts/up.sh starts (the default)",
    )
    args = parser.parse_args()
    parts = set(args.only.split(","))
    api = Api()
    image = next(t["image"] for t in api.http.get("/templates").json())
    if "a" in parts:
        latency_one_viewer(api, image)
    if "b" in parts:
        flood(api, image, args.flood, args.flood_viewers)
    if "c" in parts:
        thousand(api, args.viewers, args.processes, args.web_command)
    if "d" in parts:
        from bench.stream_page import page_bench

        print(f"\n(d) the run page with {args.page_lines} lines, Chromium   [{load()}]")
        for name, ok, detail in page_bench(
            api, flood_cmd(args.page_lines), args.page_lines, TICK_CMD
        ):
            target(name, ok, detail)
    print(f"\nsummary   [{load()}]")
    for name, ok, detail in RESULTS:
        print(f"  {'met    ' if ok else 'NOT MET'}  {name}: {detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
