"""Read-only queries, always scoped to what the user may see."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from . import roles
from .ids import id_ok
from .models import Artifact, Run, RunEvent, Transfer, WorkerHost


def runs_visible_to(user):
    """The runs this user may see: the VIEW row of the one table of who may do what."""
    return roles.runs_visible_to(user)


def run_for(user, run_id: str) -> Run | None:
    if not id_ok(run_id):
        return None
    return runs_visible_to(user).filter(pk=run_id).first()


def run_list(user, *, status=None, template=None, team=None, owner=None):
    qs = runs_visible_to(user)
    if status:
        qs = qs.filter(status__in=status.split(","))
    if template:
        qs = qs.filter(template=template)
    if team:
        qs = qs.filter(team__slug=team)
    if owner:
        qs = qs.filter(owner__username=owner)
    return qs.order_by("-created_at", "-id")


def events_after(run_id: str, after_seq: int, limit: int):
    return list(RunEvent.objects.filter(run_id=run_id, seq__gt=after_seq).order_by("seq")[:limit])


def artifact_for(user, artifact_id: str) -> Artifact | None:
    if not id_ok(artifact_id):
        return None
    return (
        Artifact.objects.select_related("run")
        .filter(pk=artifact_id, run__in=runs_visible_to(user))
        .first()
    )


def transfer_for(user, transfer_id: str) -> Transfer | None:
    """A transfer is visible exactly when its run is."""
    if not id_ok(transfer_id):
        return None
    return (
        Transfer.objects.select_related("run")
        .filter(pk=transfer_id, run__in=runs_visible_to(user))
        .first()
    )


def hosts_alive():
    """Hosts heard from within CROWNEST_HOST_LOST_SECONDS and not shut down."""
    since = timezone.now() - timedelta(seconds=settings.CROWNEST_HOST_LOST_SECONDS)
    return WorkerHost.objects.filter(stopped_at__isnull=True, last_seen_at__gte=since)


def hosts_report() -> list[dict]:
    """Each host with its slots in use and when it was last heard from (admin, /healthz)."""
    alive = set(hosts_alive().values_list("name", flat=True))
    busy: dict[str, int] = {}
    running = Run.objects.filter(status=Run.Status.RUNNING).values_list("worker_host", flat=True)
    for name in running:
        busy[name] = busy.get(name, 0) + 1
    return [
        {
            "name": host.name,
            "slots": host.slots,
            "slotsInUse": busy.get(host.name, 0),
            "lastSeenAt": host.last_seen_at.isoformat().replace("+00:00", "Z"),
            "state": "up" if host.name in alive else ("stopped" if host.stopped_at else "lost"),
            "egress": host.egress,
        }
        for host in WorkerHost.objects.all()
    ]
