"""Whether this worker host's egress proxy answers: recorded by the host's heartbeat
(WorkerHost.egress), shown by /healthz and the admin."""

from django.conf import settings

from .config import egress_dir
from .control import ProxyUnavailable, control_call


def egress_host_status() -> str:
    """ "ok", "unavailable: <why>", or "" where egress is off."""
    if not settings.CROWNEST_EGRESS_ENABLED:
        return ""
    try:
        control_call(egress_dir(), {"op": "ping"}, timeout=2)
    except ProxyUnavailable as exc:
        return f"unavailable: {exc}"[:300]
    return "ok"


def egress_problem(hosts: list[tuple[str, str]]) -> str:
    """For /healthz: "" when a live host's proxy answers, else why none does. `hosts` are the
    live hosts' (name, egress status)."""
    reported = [(name, status) for name, status in hosts if status]
    if not reported:
        return "no worker host runs an egress proxy (CROWNEST_EGRESS_ENABLED on the workers)"
    if any(status == "ok" for _, status in reported):
        return ""
    return (
        "no worker host's egress proxy answers ("
        + "; ".join(f"{name}: {status}" for name, status in reported)
        + ")"
    )
