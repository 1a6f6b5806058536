"""What the egress proxy costs, side by side in one invocation: installing the same packages
(30 npm tarballs and 10 wheels by default, from local HTTPS upstreams on this machine) directly
from the host, through the egress proxy (allowlist, recorded), and replayed from that recording
with both upstreams stopped.

The proxy is the real one (`manage.py egress_proxy`, mitmproxy 11 with CrowNest's addon) and is
reached the way a sandbox reaches it: a relay (runs/egress/relay_script.py) on a local port to
the run's Unix socket. pip and npm run on the host with fresh caches each time.
Usage: .venv/bin/python bench/egress.py [--reps N] [--npm N] [--wheels N]
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from runs.egress import control  # noqa: E402
from runs.egress.ca import ca_create  # noqa: E402
from tests.egress_upstreams import (  # noqa: E402
    HOST,
    TestCA,
    Upstream,
    build_npm_tarball,
    build_wheel,
    serve_npm,
    serve_wheel,
)

PY = str(ROOT / ".venv" / "bin" / "python")
RELAY = (ROOT / "runs" / "egress" / "relay_script.py").read_text()


def packages(pypi, npm, wheels: int, tarballs: int) -> tuple[list[str], dict]:
    names = []
    for i in range(wheels):
        name = f"bench-wheel-{i}"
        filename, data = build_wheel(name, "1.0", f"VALUE = {i}\n" + "# pad\n" * 2000)
        serve_wheel(pypi, name, filename, data)
        names.append(name)
    deps = {}
    for i in range(tarballs):
        name = f"bench-npm-{i}"
        body = f"module.exports = {i};\n" + "// pad\n" * 2000
        serve_npm(npm, name, "1.0.0", build_npm_tarball(name, "1.0.0", body))
        deps[name] = "1.0.0"
    return names, deps


def install(pypi, npm, wheels, deps, env: dict) -> float:
    """pip and npm, each from scratch (fresh target, fresh cache); seconds for both."""
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        (work / "package.json").write_text(json.dumps({"name": "b", "dependencies": deps}))
        started = time.monotonic()
        pip = [PY, "-m", "pip", "install", "-q", "--no-cache-dir", "--disable-pip-version-check"]
        pip += ["--target", str(work / "vendor"), "--index-url", f"{pypi.base}/simple/", *wheels]
        subprocess.run(pip, env=env, check=True, cwd=work)
        npm_cmd = ["npm", "install", "--no-audit", "--no-fund", "--cache", str(work / "cache")]
        npm_cmd += ["--registry", f"{npm.base}/", "--loglevel", "error"]
        subprocess.run(npm_cmd, env=env, check=True, cwd=work, stdout=subprocess.DEVNULL)
        return time.monotonic() - started


class Proxy:
    def __init__(self, folder: Path, extra_ca: Path):
        self.folder = folder
        ca_create(folder / "ca", common_name="CrowNest egress CA (bench)")
        env = {
            **os.environ,
            "CROWNEST_EGRESS_DIR": str(folder),
            "CROWNEST_EGRESS_CA_DIR": str(folder / "ca"),
            "CROWNEST_EGRESS_EXTRA_CA": str(extra_ca),
        }
        log = open(folder / "proxy.log", "wb")  # noqa: SIM115 (the process's log, open while it runs)
        self.proc = subprocess.Popen(
            [PY, "manage.py", "egress_proxy"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for _ in range(600):
            if self.proc.poll() is not None:
                break
            try:
                control.control_call(folder, {"op": "ping"})
                return
            except control.ProxyUnavailable:
                time.sleep(0.1)
        raise RuntimeError((folder / "proxy.log").read_text())

    def open(self, run_id: str, policy: dict, replay: list | None = None) -> tuple:
        run_dir = control.run_folder(self.folder, run_id)
        run_dir.mkdir(parents=True, exist_ok=True)
        socket_dir = self.folder / "sockets" / run_id
        socket_dir.mkdir(parents=True)
        if replay is not None:
            (run_dir / control.REPLAY).write_text(json.dumps(replay))
        (run_dir / control.POLICY).write_text(
            json.dumps({"socketDir": str(socket_dir), "policy": policy})
        )
        control.control_call(self.folder, {"op": "open", "run": run_id})
        listener = socket.create_server(("127.0.0.1", 0))
        listener.set_inheritable(True)
        relay = subprocess.Popen(
            [
                sys.executable,
                "-c",
                RELAY,
                str(listener.fileno()),
                str(socket_dir / f"{run_id}.sock"),
            ],
            pass_fds=[listener.fileno()],
            stderr=subprocess.DEVNULL,
        )
        return relay, listener.getsockname()[1], socket_dir / control.CA_BUNDLE

    def recording(self, run_id: str, into: str) -> list:
        """The run's log as a replay's answers, its bodies copied to the replay's folder."""
        source = control.run_folder(self.folder, run_id)
        target = control.run_folder(self.folder, into) / control.REPLAY_BODIES
        target.mkdir(parents=True)
        entries = []
        for line in (source / control.LOG).read_bytes().splitlines():
            entry = json.loads(line)
            if entry["decision"] == "allowed" and entry["status"]:
                entries.append(entry)
                shutil.copy(source / control.BODIES / entry["sha256"], target / entry["sha256"])
        return entries

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


TRUST = ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "NPM_CONFIG_CAFILE")


def host_env(bundle: Path) -> dict:
    """This machine's environment with one trust store for every client, and pip reading no
    configuration of the machine's (its extra indexes and local wheel folders)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    return env | {name: str(bundle) for name in TRUST} | {"PIP_CONFIG_FILE": os.devnull}


def proxied(port: int, bundle: Path) -> dict:
    proxy = f"http://127.0.0.1:{port}"
    return host_env(bundle) | {"HTTPS_PROXY": proxy, "https_proxy": proxy, "NO_PROXY": ""}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--npm", type=int, default=30)
    parser.add_argument("--wheels", type=int, default=10)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="crownest-bench-egress-"))
    test_ca = TestCA(folder / "upstream-ca")
    # npm's proxy agent checks an IP-literal registry's certificate against "localhost" (it
    # drops the host; https-proxy-agent 7): its registry is named, and the name listed twice,
    # by name and by the literal address it resolves to (a loopback one).
    pypi = Upstream(test_ca).start()
    npm = Upstream(test_ca, host="127.0.0.1", name="localhost").start()
    wheels, deps = packages(pypi, npm, args.wheels, args.npm)
    base = host_env(test_ca.ca_file)
    proxy = Proxy(folder / "egress", test_ca.ca_file)
    allow = [f"{HOST}:{pypi.port}", f"localhost:{npm.port}", f"127.0.0.1:{npm.port}"]
    policy = {"mode": "allowlist", "allow": allow}
    direct, through, replayed = [], [], []
    try:
        for rep in range(args.reps):
            direct.append(install(pypi, npm, wheels, deps, base))
            relay, port, bundle = proxy.open(f"wr_BENCH{rep}", policy)
            through.append(install(pypi, npm, wheels, deps, proxied(port, bundle)))
            relay.kill()
        answers = proxy.recording("wr_BENCH0", "wr_REPLAY0")
        pypi.stop()
        npm.stop()
        for rep in range(args.reps):
            run_id = f"wr_REPLAY{rep}"
            if rep:
                answers = proxy.recording("wr_BENCH0", run_id)
            relay, port, bundle = proxy.open(run_id, {"mode": "replay"}, answers)
            replayed.append(install(pypi, npm, wheels, deps, proxied(port, bundle)))
            relay.kill()
    finally:
        proxy.stop()
        shutil.rmtree(folder, ignore_errors=True)
    d, t, r = (statistics.median(x) for x in (direct, through, replayed))
    what = f"{args.wheels} wheels + {args.npm} npm tarballs, {len(answers)} requests"
    print(f"{what}, median of {args.reps}")
    print(f"  direct from the host      {d:6.2f} s")
    print(f"  through the egress proxy  {t:6.2f} s   overhead ratio {t / d:.2f}x")
    print(f"  replayed (no upstream)    {r:6.2f} s   ratio to direct {r / d:.2f}x")


if __name__ == "__main__":
    main()
