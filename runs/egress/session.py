"""A network run's egress, from opening it at the host's proxy to its log stored: one context
manager around the sandbox's extraction and command (the resource's lifetime in one place).

While the command runs, a thread follows the proxy's spool log: each refused request becomes a
live `error` event (code `egress_refused`; the run goes on), and a proxy that stops answering
becomes one `error` event (code `egress_unavailable`). The relay inside the sandbox then answers
every request 502 with that sentence, so nothing waits on a dead proxy; when the proxy is back
(make up, systemd) it reopens the run's socket from its folder and requests work again."""

import contextlib
import dataclasses
import json
import logging
import shutil
import threading
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections

from ..dbretry import db_retry
from ..stream import events
from ..worker.sandbox.base import SandboxError
from . import control
from .config import egress_dir, run_policy, sandbox_egress
from .models import RunNetwork
from .record import REFUSED
from .store import log_store, replay_prepare

log = logging.getLogger(__name__)
FOLLOW_SECONDS = 0.5
PING_EVERY = 4  # follow steps between pings of the proxy


class EgressUnavailable(SandboxError):
    """A network run cannot start: egress is off here, or the host's proxy does not answer."""


class EgressSession:
    def __init__(self, network: RunNetwork, socket_dir: str):
        self.network, self.run_id = network, network.run_id
        self.socket_dir = Path(socket_dir)
        self.folder = control.run_folder(egress_dir(), self.run_id)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._follow, name=f"egress-{self.run_id}")
        self.offset = 0
        self.refusals_told = 0
        self.proxy_lost = False

    def __enter__(self) -> "EgressSession":
        if not settings.CROWNEST_EGRESS_ENABLED:
            raise EgressUnavailable(
                "This run asks for the network, and egress is off on this worker host "
                "(CROWNEST_EGRESS_ENABLED)."
            )
        shutil.rmtree(self.folder, ignore_errors=True)  # a redelivered run starts its log anew
        self.folder.mkdir(parents=True)
        policy = run_policy(self.network.mode, list(self.network.allow))
        if self.network.mode == RunNetwork.Mode.REPLAY:
            replay_prepare(self.folder, self.network.replay_of_id)
        data = {"socketDir": str(self.socket_dir), "policy": policy.as_dict()}
        (self.folder / control.POLICY).write_text(json.dumps(data))
        try:
            control.control_call(egress_dir(), {"op": "open", "run": self.run_id})
        except control.ProxyUnavailable as exc:
            shutil.rmtree(self.folder, ignore_errors=True)
            raise EgressUnavailable(
                f"This run asks for the network, and this host's egress proxy does not answer "
                f"({exc})."
            ) from exc
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopping.set()
        self.thread.join(30)
        try:
            control.control_call(egress_dir(), {"op": "close", "run": self.run_id})
        except control.ProxyUnavailable:
            log.warning("egress: could not close %s at the proxy (it is gone)", self.run_id)
        (self.folder / control.POLICY).unlink(missing_ok=True)  # never reopened after this
        self._tell_refusals()
        db_retry(log_store, self.run_id, self.folder)
        shutil.rmtree(self.folder, ignore_errors=True)

    # --- following the log while the command runs ---------------------------------------

    def _follow(self) -> None:
        step = 0
        try:
            while not self.stopping.wait(FOLLOW_SECONDS):
                self._tell_refusals()
                step += 1
                if step % PING_EVERY == 0:
                    self._check_proxy()
        except Exception:  # following is a courtesy; the log is stored at the end regardless
            log.warning("egress: stopped following %s", self.run_id, exc_info=True)
        finally:
            close_old_connections()

    def _new_entries(self) -> list[dict]:
        path = self.folder / control.LOG
        if not path.exists():
            return []
        with open(path, "rb") as fh:
            fh.seek(self.offset)
            data = fh.read()
        complete = data[: data.rfind(b"\n") + 1]
        self.offset += len(complete)
        return [json.loads(line) for line in complete.splitlines() if line.strip()]

    def _tell_refusals(self) -> None:
        items = []
        cap = settings.CROWNEST_EGRESS_MAX_REFUSED_EVENTS
        for entry in self._new_entries():
            if entry["decision"] != REFUSED:
                continue
            self.refusals_told += 1
            if self.refusals_told <= cap:
                items.append(("error", refused_event(entry)))
            elif self.refusals_told == cap + 1:
                message = f"More than {cap} requests were refused; the rest are in the network log."
                items.append(("error", {"code": "egress_refused", "message": message}))
        if items:
            db_retry(events.append, self.run_id, items)

    def _check_proxy(self) -> None:
        try:
            control.control_call(egress_dir(), {"op": "ping"}, timeout=2)
        except control.ProxyUnavailable as exc:
            if not self.proxy_lost:
                self.proxy_lost = True
                message = (
                    "The egress proxy of this worker host stopped answering: requests to the "
                    f"network fail until it is back ({exc})."
                )
                db_retry(
                    events.append,
                    self.run_id,
                    [("error", {"code": "egress_unavailable", "message": message})],
                )
            return
        self.proxy_lost = False


def refused_event(entry: dict) -> dict:
    return {
        "code": "egress_refused",
        "message": f"Refused {entry['method']} {entry['url']}: {entry['reason']}",
        "host": entry["host"],
        "reason": entry["reason"],
    }


def network_of(run) -> RunNetwork | None:
    """The run's network record when it asked for the network; None for "none"."""
    network = RunNetwork.objects.filter(run_id=run.id).first()
    return network if network and network.mode != RunNetwork.Mode.NONE else None


def egress_spec(run, spec):
    """The run's sandbox spec with its relay and proxy environment when it uses the network
    (after the run's own env: a run cannot point its tools around the proxy by accident)."""
    if network_of(run) is None:
        return spec
    extra = sandbox_egress(run.id)
    relay = {"CROWNEST_EGRESS_RELAY": json.dumps(extra.relay)}  # the bootstrap takes it out
    return dataclasses.replace(spec, env={**spec.env, **extra.env, **relay})


def egress_opened(run, sandbox):
    network = network_of(run)
    if network is None:
        return contextlib.nullcontext()
    return EgressSession(network, sandbox.egress_dir(run.id))
