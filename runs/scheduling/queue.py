"""The queue in its fair order, read from PostgreSQL: which queued run starts next, each queued
run's position and why it waits (the run object's `queue`). Only reads; dispatch.py starts runs.

Fair order: a slot goes to the owner with the fewest running runs (for runs filed under a team:
first the team with the fewest, then the owner), ties by queued_at. Counting each run placed as
if it were running, the order interleaves owners: A with ten queued runs and B with one gives A,
B, A, A... rather than B behind all of A's. A run whose user or team is at its concurrency
quota comes after every run that may start."""

from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count
from django.utils import timezone

from ..models import Run, Team, WorkerHost
from .models import Quota
from .quotas import default_limit
from .resources import run_resources, shortfall

S = Run.Status
WAITING = "waiting for a free slot"


@dataclass
class Waiting:
    id: str
    owner_id: int
    team_id: int | None
    queued_at: datetime
    resources: dict


@dataclass
class Snapshot:
    """Queued runs, running counts per owner and team, and the limits that apply to them."""

    waiting: list[Waiting]
    owners: Counter = field(default_factory=Counter)
    teams: Counter = field(default_factory=Counter)
    owner_limits: dict = field(default_factory=dict)
    team_limits: dict = field(default_factory=dict)

    def full(self, w: Waiting, owners=None, teams=None) -> str:
        """ "team" or "owner" when that one is at its limit of running runs, else ""."""
        owners = self.owners if owners is None else owners
        teams = self.teams if teams is None else teams
        if w.team_id and _at(teams[w.team_id], self.team_limits.get(w.team_id, 0)):
            return "team"
        if _at(owners[w.owner_id], self.owner_limits.get(w.owner_id, 0)):
            return "owner"
        return ""


def _at(count: int, limit: int) -> bool:
    return bool(limit) and count >= limit


def owner_limit(owner_id: int) -> int:
    value = Quota.objects.filter(user_id=owner_id).values_list("max_running", flat=True).first()
    return default_limit("user", "maxRunning") if value is None else value


def team_limit(team_id: int) -> int:
    value = Quota.objects.filter(team_id=team_id).values_list("max_running", flat=True).first()
    return default_limit("team", "maxRunning") if value is None else value


def snapshot() -> Snapshot:
    rows = Run.objects.filter(status=S.QUEUED).values_list(
        "id", "owner_id", "team_id", "queued_at", "resources"
    )
    waiting = [
        Waiting(i, o, t, q or timezone.now(), run_resources(Run(resources=r)))
        for i, o, t, q, r in rows
    ]
    running = Run.objects.filter(status=S.RUNNING)
    snap = Snapshot(waiting)
    for key, counter in (("owner_id", snap.owners), ("team_id", snap.teams)):
        for value, n in running.values_list(key).annotate(n=Count("id")).order_by():
            if value is not None:
                counter[value] = n
    _limits(snap)
    return snap


def _limits(snap: Snapshot) -> None:
    owners = {w.owner_id for w in snap.waiting}
    teams = {w.team_id for w in snap.waiting if w.team_id}
    quotas = Quota.objects.filter(max_running__isnull=False)
    user_rows = dict(quotas.filter(user_id__in=owners).values_list("user_id", "max_running"))
    team_rows = dict(quotas.filter(team_id__in=teams).values_list("team_id", "max_running"))
    for owner in owners:
        snap.owner_limits[owner] = user_rows.get(owner, default_limit("user", "maxRunning"))
    for team in teams:
        snap.team_limits[team] = team_rows.get(team, default_limit("team", "maxRunning"))


def fair_order(snap: Snapshot) -> list[Waiting]:
    """Every queued run, in the order slots would go to them (FIFO with CROWNEST_FAIR_QUEUE
    off). Each step takes the head of the lane (a team's or a personal queue of one owner) with
    the lowest (at a limit, team's or own running count, owner's running count, queued_at)."""
    if not settings.CROWNEST_FAIR_QUEUE:
        return sorted(snap.waiting, key=lambda w: (w.queued_at, w.id))
    lanes: dict[tuple, deque] = {}
    for w in sorted(snap.waiting, key=lambda w: (w.queued_at, w.id)):
        lanes.setdefault((w.team_id, w.owner_id), deque()).append(w)
    owners, teams = Counter(snap.owners), Counter(snap.teams)

    def rank(lane):
        head = lanes[lane][0]
        top = teams[head.team_id] if head.team_id else owners[head.owner_id]
        full = bool(snap.full(head, owners, teams))
        return (full, top, owners[head.owner_id], head.queued_at, head.id)

    order = []
    while lanes:
        lane = min(lanes, key=rank)
        w = lanes[lane].popleft()
        if not lanes[lane]:
            del lanes[lane]
        order.append(w)
        owners[w.owner_id] += 1
        if w.team_id:
            teams[w.team_id] += 1
    return order


def live_hosts():
    seen_after = timezone.now() - timedelta(seconds=settings.CROWNEST_HOST_LOST_SECONDS)
    return WorkerHost.objects.filter(stopped_at__isnull=True, last_seen_at__gte=seen_after)


def free_capacity(host: WorkerHost | None) -> dict:
    """What the host can still lend (None: not bounded): its capacity minus the resources of
    the runs running on it."""
    if host is None:
        return {}
    used = Counter()
    running = Run.objects.filter(status=S.RUNNING, worker_host=host.name)
    for resources in running.values_list("resources", flat=True):
        used.update({k: v or 0 for k, v in run_resources(Run(resources=resources)).items()})
    caps = {"cpus": host.cpus, "memoryMiB": host.memory_mib, "diskMiB": host.disk_mib}
    return {key: cap - used[key] if cap else None for key, cap in caps.items()}


def queue_info(run: Run, snap: Snapshot | None = None) -> dict | None:
    """{position, reason} of a queued run (1-based, in the fair order), else None."""
    if run.status != S.QUEUED:
        return None
    snap = snap or snapshot()
    order = fair_order(snap)
    ids = [w.id for w in order]
    if run.id not in ids:  # started or ended since the run was read
        return None
    w = order[ids.index(run.id)]
    return {"position": ids.index(run.id) + 1, "reason": reason(w, snap)}


def reason(w: Waiting, snap: Snapshot) -> str:
    full = snap.full(w)
    if full == "team":
        slug = Team.objects.filter(pk=w.team_id).values_list("slug", flat=True).first()
        return f"team {slug} is at its limit of {snap.team_limits[w.team_id]} running runs"
    if full == "owner":
        user = get_user_model().objects.filter(pk=w.owner_id).first()
        name = user.get_username() if user else "the owner"
        return f"{name} is at their limit of {snap.owner_limits[w.owner_id]} running runs"
    hosts = list(live_hosts())
    short = [shortfall(w.resources, free_capacity(h)) for h in hosts]
    if hosts and all(short):
        return f"no worker host has room for {short[0]}"
    return WAITING
