"""Per-run resources ({cpus, memoryMiB, diskMiB}): what a run may ask for (the smallest of the
settings', its template's and its team's maximums), what it gets when it asks for nothing
(CROWNEST_SANDBOX_CPUS / _MEMORY / _DISK), and what it takes of a worker host's capacity."""

import re
from dataclasses import replace

from django.conf import settings

from ..errors import InvalidRequest
from .models import MAXIMUM_FIELDS, Quota

SIZE = re.compile(r"^(\d+)([kmgt]?)i?b?$", re.IGNORECASE)
MIB_PER_UNIT = {"": 1 / (1 << 20), "k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024}
SETTING = {
    "cpus": "CROWNEST_RUN_MAX_CPUS",
    "memoryMiB": "CROWNEST_RUN_MAX_MEMORY_MIB",
    "diskMiB": "CROWNEST_RUN_MAX_DISK_MIB",
}
UNIT = {"cpus": "CPUs", "memoryMiB": "MiB of memory", "diskMiB": "MiB of disk"}


def mib(size: str) -> int | None:
    """A Docker-style size ("1g", "512m") in MiB; None for "" (not bounded)."""
    if not str(size).strip():
        return None
    match = SIZE.match(str(size).strip())
    if not match:
        raise ValueError(f"not a size: {size!r} (use e.g. 512m, 2g)")
    return max(1, int(int(match.group(1)) * MIB_PER_UNIT[match.group(2).lower()]))


def resource_defaults() -> dict:
    """What a run that asks for nothing gets; diskMiB is null where workspaces are unbounded."""
    return {
        "cpus": settings.CROWNEST_SANDBOX_CPUS,
        "memoryMiB": mib(settings.CROWNEST_SANDBOX_MEMORY),
        "diskMiB": mib(settings.CROWNEST_SANDBOX_DISK),
    }


def run_resources(run) -> dict:
    """The run's resources; a run made before runs had them counts as the defaults."""
    return {**resource_defaults(), **(run.resources or {})}


def maximums(*, template, team) -> dict:
    """key -> (the largest value allowed, what sets it: "service", "template" or "team")."""
    found = {key: (getattr(settings, name), "service") for key, name in SETTING.items()}
    quota = Quota.objects.filter(team=team).first() if team is not None else None
    for source, holder in (("template", template), ("team", quota)):
        for key, field in MAXIMUM_FIELDS.items():
            value = getattr(holder, field, None) if holder is not None else None
            if value is not None and value < found[key][0]:
                found[key] = (value, source)
    return found


def resources_choose(requested: dict | None, *, template, team) -> dict:
    """The resources a new run gets: the defaults, overridden by what it asked for, each asked
    value within its maximum (else InvalidRequest naming the maximum and what sets it)."""
    chosen = resource_defaults()
    limits = maximums(template=template, team=team)
    for key, value in (requested or {}).items():
        limit, source = limits[key]
        if value > limit:
            whose = {"service": "this service's", "template": f"template {template.name}'s"}
            holder = whose.get(source) or f"team {team.slug}'s"
            problem = f"must be at most {_number(limit)} ({holder} maximum)"
            raise InvalidRequest(
                f"resources.{key} {_number(value)} is over {holder} maximum of {_number(limit)} "
                f"{UNIT[key]} per run; ask for less.",
                {
                    "fields": {f"resources.{key}": [problem]},
                    "maximum": {key: limit, "setBy": source},
                },
            )
        chosen[key] = value
    return chosen


def _number(value):
    return int(value) if float(value).is_integer() else value


def limits_for(run, limits):
    """The sandbox limits of this run: the settings' (pids, tmp size, runtime...) with the run's
    own cpus, memory and disk."""
    res, default = run_resources(run), resource_defaults()
    # Where the run has the defaults, the settings' own spelling stays: the warm pool's
    # containers are matched by their limits, and the evidence shows what was configured.
    memory = limits.memory if res["memoryMiB"] == default["memoryMiB"] else f"{res['memoryMiB']}m"
    disk = limits.disk
    # A host without workspace filesystems (CROWNEST_SANDBOX_DISK "") cannot bound one: the
    # run's evidence then says disk null, whatever the process that made the run filled in.
    if disk and res.get("diskMiB") != default["diskMiB"]:
        disk = f"{res['diskMiB']}m" if res.get("diskMiB") else ""
    return replace(limits, cpus=float(res["cpus"]), memory=memory, disk=disk)


def host_capacity() -> dict:
    """What this worker host lends to sandboxes (CROWNEST_HOST_*; 0: not bounded)."""
    return {
        "cpus": settings.CROWNEST_HOST_CPUS,
        "memory_mib": settings.CROWNEST_HOST_MEMORY_MIB,
        "disk_mib": settings.CROWNEST_HOST_DISK_MIB,
    }


def shortfall(need: dict, free: dict) -> str:
    """ "" when `need` fits in `free` (keys as in resources; None in free: unbounded), else what
    does not fit, e.g. "4 CPUs"."""
    for key in ("cpus", "memoryMiB", "diskMiB"):
        room, wanted = free.get(key), need.get(key) or 0
        if room is not None and wanted > room + 1e-9:
            return f"{_number(wanted)} {UNIT[key]}"
    return ""
