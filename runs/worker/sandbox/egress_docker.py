"""The Docker sandbox with each container's egress folder (where egress is on): a host folder
made with the container (pooled or not) and mounted read-only at /run/crownest-egress. It stays
empty unless the run that takes the container asks for the network; then the host's egress
proxy puts the run's socket (named by the run id) and the CA bundle into it (runs/egress). A
pooled container is made before its run is known: the folder is what lets the socket arrive at
claim time. Everything else is DockerSandbox's (docker.py)."""

import contextlib
import shutil
from pathlib import Path

from django.conf import settings

from .base import SandboxError
from .docker import ENGINE_ERRORS, LABEL, DockerSandbox

EGRESS_DIR_LABEL = "org.crownest.egress-dir"
MOUNT = "/run/crownest-egress"


def _root() -> Path:
    return Path(settings.CROWNEST_EGRESS_DIR) / "sockets"


class EgressDockerSandbox(DockerSandbox):
    def _config(self, image, lim, volume, labels, **extra) -> dict:
        cfg = super()._config(image, lim, volume, labels, **extra)
        if settings.CROWNEST_EGRESS_ENABLED and extra.get("stdin_open"):  # a run's container
            folder = _root() / self.instance / extra["name"]
            folder.mkdir(parents=True, exist_ok=True)
            folder.chmod(0o755)
            _root().chmod(0o711)  # others may pass through to a socket, never list the runs
            cfg["volumes"][str(folder)] = {"bind": MOUNT, "mode": "ro"}
            cfg["labels"][EGRESS_DIR_LABEL] = str(folder)
        return cfg

    def egress_dir(self, run_id: str) -> str:
        folder = self._container(run_id).labels.get(EGRESS_DIR_LABEL)
        if not folder:
            raise SandboxError("the run's sandbox was made without an egress socket folder")
        return folder

    def remove_named(self, name: str, run_id: str = "") -> None:
        if not settings.CROWNEST_EGRESS_ENABLED:
            return super().remove_named(name, run_id)
        folders = {_root() / self.instance / name}  # also when its container was never made
        with contextlib.suppress(*ENGINE_ERRORS):
            found = self.containers({"name": f"^/?{name}$"})
            if run_id:
                found += self.containers({"label": f"{LABEL}={run_id}"})
            folders |= {
                Path(c.labels[EGRESS_DIR_LABEL]) for c in found if EGRESS_DIR_LABEL in c.labels
            }
        super().remove_named(name, run_id)
        for folder in folders:
            if folder.resolve().is_relative_to(_root().resolve()):
                shutil.rmtree(folder, ignore_errors=True)
