"""Inside the proxy process: the runs open on this host, each with its policy, counters, log and
replay answers, and the per-run Unix socket that is the run's only way out.

A connection accepted on a run's socket is relayed to mitmproxy's loopback listener from a
fresh local port, and that port is recorded against the run before a single byte is relayed:
the addon finds the run of every request by its client's port. Nothing is guessed from timing,
and a connection that did not come through a run's socket belongs to no run and is refused."""

import asyncio
import contextlib
import json
import logging
import os
import shutil
from collections import deque
from pathlib import Path
from urllib.parse import urlsplit

from . import control
from .policy import Policy
from .record import REFUSED, REPLAYED, entry_line, replay_key

log = logging.getLogger("crownest.egress")
PIPE_CHUNK = 1 << 16


class RunState:
    def __init__(self, run_id: str, folder: Path, policy: Policy, socket_dir: Path):
        self.run_id, self.folder, self.policy = run_id, folder, policy
        self.socket_path = socket_dir / f"{run_id}.sock"
        self.server: asyncio.AbstractServer | None = None
        self.seq = self.requests = self.bytes = 0
        self.replay: dict[str, deque] = {}
        self.replay_hosts: set[tuple[str, int]] = set()  # what a replay may CONNECT to
        self._count_existing()
        self.log = open(folder / control.LOG, "ab")  # noqa: SIM115 (open while the run is)
        if policy.mode == "replay":
            self._load_replay()

    def _count_existing(self) -> None:
        """After a proxy restart the run's log goes on where it stopped: seq and caps too."""
        path = self.folder / control.LOG
        if not path.exists():
            return
        for line in path.read_bytes().splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                self.seq = max(self.seq, entry["seq"])
                self.requests += 1
                if entry["decision"] != REFUSED:
                    self.bytes += entry["bytes"]

    def _load_replay(self) -> None:
        path = self.folder / control.REPLAY
        entries = json.loads(path.read_text()) if path.exists() else []
        for entry in entries:
            self.replay.setdefault(replay_key(entry["method"], entry["url"]), deque()).append(entry)
            parts = urlsplit(entry["url"])
            default = 443 if parts.scheme == "https" else 80
            self.replay_hosts.add(((parts.hostname or "").lower(), parts.port or default))
        used = self.seq  # a restarted replay resumes: answers already given are not given twice
        for line in (self.folder / control.LOG).read_bytes().splitlines() if used else []:
            entry = json.loads(line)
            queue = self.replay.get(replay_key(entry["method"], entry["url"]))
            if entry["decision"] == REPLAYED and queue:
                queue.popleft()

    def replay_take(self, method: str, url: str) -> dict | None:
        queue = self.replay.get(replay_key(method, url))
        return queue.popleft() if queue else None

    def replay_body(self, sha256: str) -> bytes:
        return (self.folder / control.REPLAY_BODIES / sha256).read_bytes()

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def write(self, entry: dict) -> None:
        self.log.write(entry_line(entry))
        self.log.flush()

    def keep_body(self, sha256: str, body: bytes) -> None:
        folder = self.folder / control.BODIES
        target = folder / sha256
        if target.exists():
            return
        folder.mkdir(exist_ok=True)
        temp = folder / f".{sha256}.{os.getpid()}"
        temp.write_bytes(body)
        temp.replace(target)

    async def close(self) -> None:
        if self.server:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 2)
        self.socket_path.unlink(missing_ok=True)
        self.log.close()


class RunTable:
    """Open runs by id, and the run of each relayed connection by its local port."""

    def __init__(self, egress_dir: Path, mitm_port_of, ca_cert: bytes, socket_mode: int):
        self.egress_dir = egress_dir
        self.mitm_port_of = mitm_port_of  # called: mitmproxy's port is known once it listens
        self.ca_cert, self.socket_mode = ca_cert, socket_mode
        self.runs: dict[str, RunState] = {}
        self.by_port: dict[int, RunState] = {}

    def run_of(self, peername) -> RunState | None:
        if not peername or peername[0] not in ("127.0.0.1", "::ffff:127.0.0.1"):
            return None
        return self.by_port.get(peername[1])

    async def open(self, run_id: str) -> RunState:
        if run_id in self.runs:
            return self.runs[run_id]
        folder = control.run_folder(self.egress_dir, run_id)
        data = json.loads((folder / control.POLICY).read_text())
        socket_dir = Path(data["socketDir"])
        state = RunState(run_id, folder, Policy.from_dict(data["policy"]), socket_dir)
        # The sandbox's trust store: this proxy's CA, beside the socket (both read-only inside).
        bundle = socket_dir / control.CA_BUNDLE
        bundle.write_bytes(self.ca_cert)
        bundle.chmod(0o644)
        state.socket_path.unlink(missing_ok=True)
        # A socket's path may be 107 bytes at most, and a deep install's is longer: bind
        # through the folder's descriptor (/proc/self/fd/N/name), which names the same place.
        folder_fd = os.open(socket_dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            state.server = await asyncio.start_unix_server(
                lambda r, w: self._relay(state, r, w),
                path=f"/proc/self/fd/{folder_fd}/{state.socket_path.name}",
            )
        finally:
            os.close(folder_fd)
        os.chmod(state.socket_path, self.socket_mode)
        self.runs[run_id] = state
        log.info("egress: opened %s (%s)", run_id, state.policy.mode)
        return state

    async def close(self, run_id: str) -> None:
        state = self.runs.pop(run_id, None)
        if state:
            await state.close()
            log.info("egress: closed %s after %d requests", run_id, state.requests)

    async def reopen_all(self) -> None:
        """Runs still open when the proxy stopped (a crash, a restart) get their sockets back."""
        for folder in sorted((self.egress_dir / control.RUNS).glob("*")):
            if (folder / control.POLICY).exists():
                try:
                    await self.open(folder.name)
                except (OSError, ValueError, KeyError):
                    log.warning("egress: could not reopen %s", folder.name, exc_info=True)

    async def _relay(self, state: RunState, reader, writer) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.mitm_port_of())
        except OSError:
            writer.close()
            return
        port = up_writer.get_extra_info("sockname")[1]
        self.by_port[port] = state  # before any byte reaches mitmproxy
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            self.by_port.pop(port, None)
            for w in (writer, up_writer):
                w.close()


async def _pipe(reader, writer) -> None:
    try:
        while data := await reader.read(PIPE_CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            writer.write_eof()


def remove_run_folder(egress_dir, run_id: str) -> None:
    shutil.rmtree(control.run_folder(egress_dir, run_id), ignore_errors=True)
