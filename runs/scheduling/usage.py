"""What a user or a team uses of the service, measured from the runs themselves (no counters to
drift): run minutes per UTC day and calendar month, stored bytes, runs running and runs waiting
for their archive. Only reads (runs/scheduling/quotas.py decides what is too much)."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import DurationField, ExpressionWrapper, F, Q, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from ..models import Artifact, Membership, Run, Team
from ..shared_archives import stored_archives

S = Run.Status


@dataclass(frozen=True)
class Scope:
    """Whose usage: one user's runs (the ones they own) or one team's (filed under it)."""

    kind: str  # "user" | "team"
    user: object = None
    team: Team | None = None

    @property
    def name(self) -> str:
        return self.team.slug if self.team is not None else self.user.get_username()

    def runs(self):
        if self.team is not None:
            return Run.objects.filter(team=self.team)
        return Run.objects.filter(owner=self.user)


def user_scope(user) -> Scope:
    return Scope("user", user=user)


def team_scope(team: Team) -> Scope:
    return Scope("team", team=team)


def run_scopes(*, owner, team: Team | None) -> list[Scope]:
    """The scopes a run counts in: its owner's, and its team's when it has one."""
    return [user_scope(owner)] + ([team_scope(team)] if team is not None else [])


def day_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def month_start(now: datetime) -> datetime:
    return day_start(now).replace(day=1)


def next_day(now: datetime) -> datetime:
    return day_start(now) + timedelta(days=1)


def next_month(now: datetime) -> datetime:
    first = month_start(now)
    return (
        first.replace(year=first.year + 1, month=1)
        if first.month == 12
        else first.replace(month=first.month + 1)
    )


def run_minutes(scope: Scope, *, since: datetime, now: datetime) -> float:
    """Minutes of the runs started since `since`: each one's (finished_at or now) - started_at,
    so a run still going counts up to now."""
    took = ExpressionWrapper(
        Coalesce(F("finished_at"), Value(now)) - F("started_at"), output_field=DurationField()
    )
    started = scope.runs().filter(started_at__gte=since, started_at__isnull=False)
    total = started.aggregate(total=Sum(took))["total"] or timedelta(0)
    return round(max(total.total_seconds(), 0) / 60, 2)


def archive_bytes(scope: Scope) -> int:
    """Bytes of the scope's stored archives, each stored file once however many runs share it."""
    files = stored_archives().filter(pk__in=scope.runs().values("pk"))
    sizes = dict(files.values_list("archive_file", "archive_size_bytes"))
    return sum(sizes.values())


def artifact_bytes(scope: Scope) -> int:
    stored = Artifact.objects.filter(run__in=scope.runs(), expired_at__isnull=True).exclude(file="")
    return stored.aggregate(total=Sum("size_bytes"))["total"] or 0


def stored_bytes(scope: Scope) -> int:
    return archive_bytes(scope) + artifact_bytes(scope)


def stores_archive(scope: Scope, *, sha256: str, size_bytes: int) -> bool:
    """Whether the scope already stores these archive bytes (a reuse adds nothing to it)."""
    same = stored_archives().filter(archive_sha256=sha256.lower(), archive_size_bytes=size_bytes)
    return same.filter(pk__in=scope.runs().values("pk")).exists()


def awaiting_archive(scope: Scope) -> int:
    return scope.runs().filter(status=S.AWAITING_ARCHIVE).count()


@dataclass(frozen=True)
class Usage:
    scope: Scope
    running_runs: int
    run_minutes_today: float
    run_minutes_this_month: float
    stored_bytes: int
    awaiting_archive: int
    day_resets_at: datetime
    month_resets_at: datetime


def usage_of(scope: Scope, *, now: datetime | None = None) -> Usage:
    now = now or timezone.now()
    return Usage(
        scope=scope,
        running_runs=scope.runs().filter(status=S.RUNNING).count(),
        run_minutes_today=run_minutes(scope, since=day_start(now), now=now),
        run_minutes_this_month=run_minutes(scope, since=month_start(now), now=now),
        stored_bytes=stored_bytes(scope),
        awaiting_archive=awaiting_archive(scope),
        day_resets_at=next_day(now),
        month_resets_at=next_month(now),
    )


def own_scopes(user) -> list[Scope]:
    """The user and the teams they belong to."""
    teams = Team.objects.filter(membership__user=user).order_by("slug")
    return [user_scope(user)] + [team_scope(t) for t in teams]


def scopes_visible_to(user) -> list[Scope]:
    """The caller and the teams they belong to; staff see every user with runs or a quota, and
    every team."""
    if not user.is_staff:
        return own_scopes(user)
    users = get_user_model().objects.filter(
        Q(pk=user.pk) | Q(runs__isnull=False) | Q(crownest_quota__isnull=False)
    )
    people = [user_scope(u) for u in users.distinct().order_by("username")]
    return people + [team_scope(t) for t in Team.objects.order_by("slug")]


def teams_of(user):
    """(team, the caller's role or None) for the caller's teams; staff get every team."""
    roles = dict(Membership.objects.filter(user=user).values_list("team_id", "role"))
    teams = Team.objects.order_by("slug")
    if not user.is_staff:
        teams = teams.filter(pk__in=roles)
    return [(team, roles.get(team.pk)) for team in teams]


def team_named(slug: str) -> Team | None:
    return Team.objects.filter(slug=slug).first()


def user_named(username: str):
    return get_user_model().objects.filter(username=username).first()
