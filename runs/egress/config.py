"""What the worker and the proxy take from the settings: the proxy's start-up configuration,
a run's policy, and what a network run's sandbox gets (the relay, its environment)."""

import json
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from .policy import Policy

MOUNT = "/run/crownest-egress"  # the run's socket directory inside the sandbox (read-only)
RELAY_SCRIPT = (Path(__file__).parent / "relay_script.py").read_text()
LOCAL = "localhost,127.0.0.1,::1"


def egress_dir() -> Path:
    return Path(settings.CROWNEST_EGRESS_DIR)


def proxy_config() -> dict:
    """The proxy process's configuration (manage.py egress_proxy writes it for proxy_main)."""
    return {
        "egressDir": str(egress_dir()),
        "caDir": str(settings.CROWNEST_EGRESS_CA_DIR),
        "systemCa": str(settings.CROWNEST_EGRESS_SYSTEM_CA),
        "extraCa": [str(p) for p in settings.CROWNEST_EGRESS_EXTRA_CA],
        "maxResponseBytes": settings.CROWNEST_EGRESS_MAX_RESPONSE_BYTES,
    }


def proxy_config_write() -> Path:
    path = egress_dir() / "proxy.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(proxy_config(), indent=1))
    return path


def run_policy(mode: str, allow: list[str]) -> Policy:
    return Policy.from_dict(
        {
            "mode": mode,
            "allow": allow if mode == "allowlist" else [],
            "methods": settings.CROWNEST_EGRESS_METHODS,
            "maxBytes": settings.CROWNEST_EGRESS_MAX_BYTES,
            "maxRequests": settings.CROWNEST_EGRESS_MAX_REQUESTS,
        }
    )


@dataclass(frozen=True)
class SandboxEgress:
    """What a network run's sandbox gets: the relay the bootstrap starts, and its environment."""

    relay: dict
    env: dict


def sandbox_egress(run_id: str) -> SandboxEgress:
    port = settings.CROWNEST_EGRESS_RELAY_PORT
    proxy = f"http://127.0.0.1:{port}"
    bundle = f"{MOUNT}/ca.pem"
    env = {name: proxy for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")}
    env |= {"NO_PROXY": LOCAL, "no_proxy": LOCAL}
    # Every client's own way to name its trust store; the bundle holds the proxy's CA alone,
    # since every connection out goes through the proxy.
    for name in (
        "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT", "NODE_EXTRA_CA_CERTS",
        "NPM_CONFIG_CAFILE", "GIT_SSL_CAINFO", "CURL_CA_BUNDLE",
    ):  # fmt: skip
        env[name] = bundle
    relay = {"port": port, "socket": f"{MOUNT}/{run_id}.sock", "code": RELAY_SCRIPT}
    return SandboxEgress(relay=relay, env=env)
