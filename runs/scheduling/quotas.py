"""Quotas: each user's and team's limits (a Quota row's value, else the setting's default; 0 is
no limit) and the checks that refuse what would pass them. Run minutes and stored bytes refuse
with QuotaExceeded (429 quota_exceeded); runs awaiting their archive with Throttled, as that cap
always has. What is used is measured by runs/scheduling/usage.py."""

import math
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from ..errors import QuotaExceeded, Throttled
from ..ids import iso
from ..models import Team
from . import usage
from .models import QUOTA_FIELDS, Quota
from .usage import Scope

# The setting each quota falls back to, per scope kind (None: no default, no limit).
DEFAULTS = {
    "user": {
        "maxRunning": "CROWNEST_QUOTA_MAX_RUNNING",
        "runMinutesPerDay": "CROWNEST_QUOTA_RUN_MINUTES_PER_DAY",
        "runMinutesPerMonth": "CROWNEST_QUOTA_RUN_MINUTES_PER_MONTH",
        "storedBytes": "CROWNEST_QUOTA_STORED_BYTES",
        "maxAwaitingArchive": "CROWNEST_MAX_AWAITING_ARCHIVE",
    },
    "team": {
        "maxRunning": "CROWNEST_QUOTA_TEAM_MAX_RUNNING",
        "runMinutesPerDay": "CROWNEST_QUOTA_RUN_MINUTES_PER_DAY",
        "runMinutesPerMonth": "CROWNEST_QUOTA_RUN_MINUTES_PER_MONTH",
        "storedBytes": "CROWNEST_QUOTA_STORED_BYTES",
        "maxAwaitingArchive": None,
    },
}
DELETE_HINT = "delete runs that never started: DELETE /api/v1/workspace-runs/{id}"
UNPIN_HINT = 'PATCH /api/v1/workspace-runs/{id} {"pinned": false}'


def quota_row(scope: Scope) -> Quota | None:
    if scope.team is not None:
        return Quota.objects.filter(team=scope.team).first()
    return Quota.objects.filter(user=scope.user).first()


def overrides_of(scope: Scope) -> dict:
    """The scope's own values (None: the default applies), by API name."""
    row = quota_row(scope)
    return {name: getattr(row, field) if row else None for name, field in QUOTA_FIELDS.items()}


def default_limit(kind: str, name: str) -> int:
    """The setting a scope kind ("user" or "team") falls back to for quota `name`; 0: none."""
    setting = DEFAULTS[kind][name]
    return getattr(settings, setting) if setting else 0


def limits_of(scope: Scope) -> dict:
    """The limits in force, by API name; None means no limit."""
    limits = {}
    for name, own in overrides_of(scope).items():
        limits[name] = (own if own is not None else default_limit(scope.kind, name)) or None
    return limits


def limit_of(scope: Scope, name: str) -> int | None:
    return limits_of(scope)[name]


def quota_set(*, scope: Scope, quotas: dict) -> dict:
    """Set the given quotas of a user or team (None: back to the default); the others stay.
    Returns what was there before, for the audit row."""
    with transaction.atomic():
        owner = {"team": scope.team} if scope.team is not None else {"user": scope.user}
        row, _ = Quota.objects.select_for_update().get_or_create(**owner)
        before = {name: getattr(row, QUOTA_FIELDS[name]) for name in quotas}
        for name, value in quotas.items():
            setattr(row, QUOTA_FIELDS[name], value)
        row.save()
    return before


def _seconds_until(when: datetime, now: datetime) -> int:
    return max(1, math.ceil((when - now).total_seconds()))


def _who(scope: Scope) -> str:
    return f"{scope.kind.capitalize()} {scope.name!r}"


def _exceeded(scope: Scope, quota: str, used, limit: int, resets_at, message: str, **extra):
    now = timezone.now()
    retry = _seconds_until(resets_at, now) if resets_at else settings.CROWNEST_QUOTA_RETRY_SECONDS
    details = {
        "quota": quota,
        "scope": scope.kind,
        "name": scope.name,
        "used": used,
        "limit": limit,
        "resetsAt": iso(resets_at) if resets_at else None,
        **extra,
    }
    return QuotaExceeded(message, details, retry_after=retry)


def _minutes_refusal(scope: Scope, now: datetime) -> QuotaExceeded | None:
    periods = (
        ("runMinutesPerMonth", usage.month_start(now), usage.next_month(now), "this month"),
        ("runMinutesPerDay", usage.day_start(now), usage.next_day(now), "today"),
    )
    limits = limits_of(scope)
    for quota, since, resets_at, when in periods:  # the month first: its wait is the longer
        limit = limits[quota]
        if limit is None:
            continue
        used = usage.run_minutes(scope, since=since, now=now)
        if used >= limit:
            return _exceeded(
                scope,
                quota,
                used,
                limit,
                resets_at,
                f"{_who(scope)} has used {used:g} of its {limit} run minutes {when} (UTC); the "
                f"quota resets at {iso(resets_at)}. Start this run then, or ask staff for a "
                "larger quota.",
            )
    return None


def minutes_check(*, owner, team: Team | None) -> None:
    """Before a start: refuse while the owner's or the team's run minutes are used up."""
    now = timezone.now()
    for scope in usage.run_scopes(owner=owner, team=team):
        refusal = _minutes_refusal(scope, now)
        if refusal is not None:
            raise refusal


def _largest_pinned(scope: Scope, count: int = 3) -> list[str]:
    """The pinned runs of the scope holding the most stored bytes: what to unpin first."""
    kept = Q(artifacts__expired_at__isnull=True)
    pinned = scope.runs().filter(pinned=True)
    pinned = pinned.annotate(held=Coalesce(Sum("artifacts__size_bytes", filter=kept), 0))

    def held(run) -> int:
        return run.held + (run.archive_size_bytes if run.archive_file else 0)

    ranked = sorted((r for r in pinned if held(r)), key=held, reverse=True)
    return [run.id for run in ranked[:count]]


def _stored_refusal(scope: Scope, new_bytes: int) -> QuotaExceeded | None:
    limit = limit_of(scope, "storedBytes")
    if limit is None:
        return None
    used = usage.stored_bytes(scope)
    if used + new_bytes <= limit:
        return None
    pinned = _largest_pinned(scope)
    unpin = (
        f"unpin its largest pinned runs ({', '.join(pinned)}) with {UNPIN_HINT} so that "
        "retention may remove their files, or "
        if pinned
        else ""
    )
    return _exceeded(
        scope,
        "storedBytes",
        used,
        limit,
        None,
        f"{_who(scope)} stores {used} of its {limit} bytes; {new_bytes} more do not fit. "
        f"Free space first: {unpin}{DELETE_HINT}. Nothing already stored was removed.",
        requestedBytes=new_bytes,
        pinnedRuns=pinned,
    )


def stored_check(*, owner, team: Team | None, new_bytes: int, sha256: str = "") -> None:
    """Refuse bytes that would take the owner or the team past its stored bytes. With `sha256`
    (a new run's declaration), a scope that already stores those bytes gains nothing."""
    for scope in usage.run_scopes(owner=owner, team=team):
        gained = new_bytes
        if sha256 and usage.stores_archive(scope, sha256=sha256, size_bytes=new_bytes):
            gained = 0
        refusal = _stored_refusal(scope, gained)
        if refusal is not None:
            raise refusal


def archive_check(*, run) -> None:
    """Before an archive's bytes are taken (direct upload, staged transfer): its declared size
    must fit the owner's and the team's stored bytes."""
    stored_check(owner=run.owner, team=run.team, new_bytes=run.archive_size_bytes)


def _lock(owner, team: Team | None) -> None:
    """The owner's row (and the team's) for the rest of the transaction: creates of one owner
    or team then count one at a time (NO KEY UPDATE: new runs may still refer to the rows)."""
    users = get_user_model().objects.select_for_update(no_key=True)
    list(users.filter(pk=owner.pk).values_list("pk", flat=True))
    if team is not None:
        list(Team.objects.select_for_update(no_key=True).filter(pk=team.pk).values("pk"))


def awaiting_check(*, owner, team: Team | None) -> None:
    """maxAwaitingArchive of the owner (by default CROWNEST_MAX_AWAITING_ARCHIVE) and of the
    team, counted under their locks (inside the create's transaction): runs created and never
    sent their archive hold nothing but rows, but nothing else bounds how many a client makes."""
    _lock(owner, team)
    for scope in usage.run_scopes(owner=owner, team=team):
        limit = limit_of(scope, "maxAwaitingArchive")
        waiting = usage.awaiting_archive(scope) if limit is not None else 0
        if limit is not None and waiting >= limit:
            whose = "You have" if scope.kind == "user" else f"Team {scope.name!r} has"
            raise Throttled(
                f"{whose} {waiting} runs waiting for their archive, the most allowed at once; "
                "upload their archives, or cancel or delete the ones you no longer need, then "
                "create this one.",
                {"awaitingArchive": waiting, "limit": limit, "quota": "maxAwaitingArchive"}
                | {"scope": scope.kind, "name": scope.name},
                retry_after=settings.CROWNEST_AWAITING_ARCHIVE_RETRY_SECONDS,
            )


def create_check(*, owner, team: Team | None, archive: dict) -> None:
    """Every quota a new run meets, inside the create's transaction."""
    awaiting_check(owner=owner, team=team)
    stored_check(owner=owner, team=team, new_bytes=archive["size_bytes"], sha256=archive["sha256"])
