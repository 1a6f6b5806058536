"""The egress proxy process: `python -m runs.egress.proxy_main CONFIG.json`, run by
`manage.py egress_proxy` with the egress interpreter (mitmproxy 11 pins libraries of its own,
so it lives in a virtualenv of its own; this process never imports Django).

mitmproxy's master runs with a short list of its own addons (no onboarding app, no scripts, no
replay of its own) plus ours; it listens on a loopback port that only our per-run relays use.
A control socket (control.py) opens and closes runs."""

import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path

from mitmproxy import options
from mitmproxy.addons import core, disable_h2c, next_layer, proxyserver, tlsconfig
from mitmproxy.master import Master

from . import control
from .addon import EgressAddon, PinnedResolver
from .ca import ca_paths
from .proxy_runs import RunTable, remove_run_folder

log = logging.getLogger("crownest.egress")


def upstream_bundle(cfg: dict, egress_dir: Path) -> str:
    """mitmproxy takes one CA file for upstream checks: the system's bundle plus any extra."""
    parts = [Path(p).read_bytes() for p in [cfg["systemCa"], *cfg.get("extraCa", [])] if p]
    target = egress_dir / "upstream-ca.pem"
    target.write_bytes(b"\n".join(parts))
    return str(target)


def mitm_options(cfg: dict, egress_dir: Path) -> dict:
    return {
        "listen_host": "127.0.0.1",
        "listen_port": int(cfg.get("mitmPort", 0)),
        "confdir": cfg["caDir"],
        # Connect upstream only when a request needs it: a replay never connects at all.
        "connection_strategy": "lazy",
        "upstream_cert": False,
        "ssl_verify_upstream_trusted_ca": upstream_bundle(cfg, egress_dir),
        "body_size_limit": str(cfg["maxResponseBytes"]),
        "rawtcp": False,  # a tunnel carries HTTP (in TLS), nothing else
        "websocket": False,
        "http3": False,
    }


class ControlServer:
    def __init__(self, table: RunTable, egress_dir: Path):
        self.table, self.egress_dir = table, egress_dir

    async def handle(self, reader, writer) -> None:
        try:
            line = await reader.readline()
            request = json.loads(line)
            answer = await self.answer(request)
        except Exception as exc:  # a bad request must not end the proxy
            answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}
        writer.write(json.dumps(answer).encode() + b"\n")
        await writer.drain()
        writer.close()

    async def answer(self, request: dict) -> dict:
        op = request.get("op")
        if op == "ping":
            runs = sorted(self.table.runs)
            return {
                "ok": True,
                "runs": runs,
                "pid": os.getpid(),
                "mitmPort": self.table.mitm_port_of(),
            }
        run_id = str(request.get("run", ""))
        if not run_id.startswith("wr_") or "/" in run_id:
            return {"ok": False, "error": "no such run"}
        if op == "open":
            state = await self.table.open(run_id)
            return {"ok": True, "socket": str(state.socket_path)}
        if op == "close":
            await self.table.close(run_id)
            (control.run_folder(self.egress_dir, run_id) / control.POLICY).unlink(missing_ok=True)
            if request.get("remove"):
                remove_run_folder(self.egress_dir, run_id)
            return {"ok": True}
        return {"ok": False, "error": f"unknown op {op!r}"}


async def serve(cfg: dict) -> None:
    egress_dir = Path(cfg["egressDir"])
    (egress_dir / control.RUNS).mkdir(parents=True, exist_ok=True)
    loop = asyncio.get_running_loop()
    resolver = PinnedResolver(loop)
    loop.getaddrinfo = resolver.getaddrinfo  # every lookup of mitmproxy's goes through the pin
    master = Master(options.Options())
    ps = proxyserver.Proxyserver()

    def mitm_port() -> int:
        return next(iter(ps.servers)).listen_addrs[0][1]

    _both, cert = ca_paths(cfg["caDir"])
    table = RunTable(egress_dir, mitm_port, cert.read_bytes(), int(cfg.get("socketMode", 0o666)))
    master.addons.add(
        core.Core(), ps, next_layer.NextLayer(), tlsconfig.TlsConfig(), disable_h2c.DisableH2C()
    )
    master.addons.add(EgressAddon(table, resolver))
    master.options.update(**mitm_options(cfg, egress_dir))
    control_path = egress_dir / control.CONTROL
    control_path.unlink(missing_ok=True)
    server = await asyncio.start_unix_server(
        ControlServer(table, egress_dir).handle, path=str(control_path)
    )
    control_path.chmod(0o600)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, master.shutdown)
    runner = asyncio.create_task(master.run())
    while not ps.servers or not next(iter(ps.servers)).listen_addrs:
        if runner.done():
            return await runner
        await asyncio.sleep(0.05)
    await table.reopen_all()
    log.info("egress proxy listening on 127.0.0.1:%d, control %s", mitm_port(), control_path)
    print("egress proxy ready", flush=True)
    try:
        await runner
    finally:
        server.close()
        for run_id in list(table.runs):
            await table.runs.pop(run_id).close()
        control_path.unlink(missing_ok=True)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("mitmproxy").setLevel(logging.WARNING)
    cfg = json.loads(Path(sys.argv[1]).read_text())
    asyncio.run(serve(cfg))


if __name__ == "__main__":
    main()
