"""Where the CLI finds the service: env CROWNEST_URL / CROWNEST_TOKEN override the config file
(~/.config/crownest/config.json, or $XDG_CONFIG_HOME/crownest, or $CROWNEST_CONFIG)."""

from __future__ import annotations

import json
import os
from pathlib import Path


def config_path() -> Path:
    if os.environ.get("CROWNEST_CONFIG"):
        return Path(os.environ["CROWNEST_CONFIG"])
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "crownest" / "config.json"


def load() -> dict:
    path = config_path()
    data = json.loads(path.read_text()) if path.exists() else {}
    if os.environ.get("CROWNEST_URL"):
        data["url"] = os.environ["CROWNEST_URL"]
    if os.environ.get("CROWNEST_TOKEN"):
        data["token"] = os.environ["CROWNEST_TOKEN"]
    return data


def save(url: str, token: str) -> Path:
    """Write the file with mode 0600 from the start: the token must never be world-readable,
    not even between a write and a chmod."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"url": url.rstrip("/"), "token": token}, fh, indent=2)
    os.chmod(tmp, 0o600)  # os.open's mode is filtered by the umask; make it exact
    os.replace(tmp, path)
    return path
