"""The proxy's control socket: one JSON request line, one JSON answer line. The worker opens a
run at the proxy before its command starts and closes it after. Standard library only.

    {"op": "ping"}                      -> {"ok": true, "runs": [...], "pid": N}
    {"op": "open", "run": "wr_..."}     -> {"ok": true, "socket": PATH}   (policy.json read from
                                           the run's folder, which the worker wrote first)
    {"op": "close", "run": "wr_..."}    -> {"ok": true}
"""

import json
import socket
from pathlib import Path

CONTROL = "control.sock"
RUNS = "runs"
SOCKETS = "sockets"
CA_DIR = "ca"
CA_BUNDLE = "ca.pem"  # the sandbox's trust: the proxy's CA certificate, in the run's socket dir
POLICY = "policy.json"
LOG = "log.ndjson"
BODIES = "bodies"
REPLAY = "replay.json"
REPLAY_BODIES = "replay"
MAX_LINE = 1 << 20


class ProxyUnavailable(Exception):
    """The host's egress proxy does not answer on its control socket."""


def run_folder(egress_dir, run_id: str) -> Path:
    return Path(egress_dir) / RUNS / run_id


def control_call(egress_dir, request: dict, *, timeout: float = 5.0) -> dict:
    path = str(Path(egress_dir) / CONTROL)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.sendall(json.dumps(request).encode() + b"\n")
            answer = sock.makefile("rb").readline(MAX_LINE)
    except OSError as exc:
        raise ProxyUnavailable(f"the egress proxy does not answer at {path}: {exc}") from exc
    if not answer:
        raise ProxyUnavailable(f"the egress proxy at {path} closed the connection")
    reply = json.loads(answer)
    if not reply.get("ok"):
        raise ProxyUnavailable(reply.get("error", "the egress proxy refused the request"))
    return reply
