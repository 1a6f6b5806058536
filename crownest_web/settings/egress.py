"""The egress proxy (docs/operations.md, "Network egress")."""

from pathlib import Path

from ..env import env_bool, env_int, env_list, env_str
from .paths import BASE_DIR, MIB, VAR_DIR

# Runs may ask for the network ("allowlist", "replay") only where this is on: each worker host
# then runs an egress proxy (`manage.py egress_proxy`; `make up` turns it on and starts one).
CROWNEST_EGRESS_ENABLED = env_bool("CROWNEST_EGRESS_ENABLED", False)
# The proxy's state: control socket, per-run folders (policy, log, bodies), sandbox sockets, CA.
CROWNEST_EGRESS_DIR = Path(env_str("CROWNEST_EGRESS_DIR", VAR_DIR / "egress"))
CROWNEST_EGRESS_CA_DIR = Path(env_str("CROWNEST_EGRESS_CA_DIR", CROWNEST_EGRESS_DIR / "ca"))
# mitmproxy 11 pins libraries of its own: it runs from a virtualenv of its own (make setup).
CROWNEST_EGRESS_PYTHON = env_str("CROWNEST_EGRESS_PYTHON", BASE_DIR / ".venv-egress/bin/python")
# Upstream certificates are checked against the system's bundle plus these extra bundles.
CROWNEST_EGRESS_SYSTEM_CA = env_str(
    "CROWNEST_EGRESS_SYSTEM_CA", "/etc/ssl/certs/ca-certificates.crt"
)
CROWNEST_EGRESS_EXTRA_CA = env_list("CROWNEST_EGRESS_EXTRA_CA", "")
# Policy: methods a run may use, and per-run caps on downloaded bytes and on requests.
CROWNEST_EGRESS_METHODS = [m.upper() for m in env_list("CROWNEST_EGRESS_METHODS", "GET,HEAD")]
CROWNEST_EGRESS_MAX_BYTES = env_int("CROWNEST_EGRESS_MAX_BYTES", 2048 * MIB)
CROWNEST_EGRESS_MAX_REQUESTS = env_int("CROWNEST_EGRESS_MAX_REQUESTS", 5000)
# One response is held whole in the proxy's memory while it is hashed: this bounds it.
CROWNEST_EGRESS_MAX_RESPONSE_BYTES = env_int("CROWNEST_EGRESS_MAX_RESPONSE_BYTES", 512 * MIB)
CROWNEST_EGRESS_MAX_ALLOW = env_int("CROWNEST_EGRESS_MAX_ALLOW", 200)
# Inside the sandbox: the relay's port on 127.0.0.1 (HTTP_PROXY/HTTPS_PROXY point at it).
CROWNEST_EGRESS_RELAY_PORT = env_int("CROWNEST_EGRESS_RELAY_PORT", 3128)
# At most this many live `egress_refused` events per run (every refusal is in the log).
CROWNEST_EGRESS_MAX_REFUSED_EVENTS = env_int("CROWNEST_EGRESS_MAX_REFUSED_EVENTS", 50)
