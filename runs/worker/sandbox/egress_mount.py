"""Each sandbox container's egress folder (where egress is on): a host folder made with the
container (pooled or not) and mounted read-only at /run/crownest-egress. It stays empty unless
the run that takes the container asks for the network; then the host's egress proxy puts the
run's socket (named by the run id) and the CA bundle into it (runs/egress). A pooled container
is made before its run is known; the folder is what lets the socket arrive at claim time."""

import shutil
from pathlib import Path

from django.conf import settings

EGRESS_DIR_LABEL = "org.crownest.egress-dir"
MOUNT = "/run/crownest-egress"


def egress_mount(cfg: dict, instance: str, name: str) -> None:
    if not settings.CROWNEST_EGRESS_ENABLED:
        return
    root = Path(settings.CROWNEST_EGRESS_DIR) / "sockets"
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o711)  # others may pass through to a socket, never list the runs
    folder = root / instance / name
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    cfg["volumes"] = {**cfg["volumes"], str(folder): {"bind": MOUNT, "mode": "ro"}}
    cfg["labels"] = {**cfg["labels"], EGRESS_DIR_LABEL: str(folder)}


def egress_mount_remove(folder: str) -> None:
    root = Path(settings.CROWNEST_EGRESS_DIR) / "sockets"
    if folder and Path(folder).resolve().is_relative_to(root.resolve()):
        shutil.rmtree(folder, ignore_errors=True)
