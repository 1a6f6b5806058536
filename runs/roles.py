"""Who may do what to a run: the one table (docs/api.md, "Who may do what to a run") and the one
check that every API view, page, admin action and the reviews code calls.

A user's roles toward a run: `owner` (they created it), `member` or `lead` (their membership of
the run's team), `staff`. Someone with none of them does not see the run at all: it answers 404,
exactly like an unknown id. A visible run whose action is not allowed answers 403 `forbidden`."""

from enum import StrEnum

from django.db.models import Q

from .errors import Forbidden, NotFound
from .models import Membership, Run


class Role(StrEnum):
    OWNER = "owner"
    MEMBER = "member"
    LEAD = "lead"
    STAFF = "staff"


class Action(StrEnum):
    VIEW = "view"  # the run, its events, artifacts, evidence, reviews and network log
    START = "start"  # also: send its archive (direct upload, staged transfer)
    CANCEL = "cancel"
    RERUN = "rerun"  # the new run belongs to the caller
    PIN = "pin"  # and unpin
    DELETE = "delete"
    REVIEW = "review"  # the evidence


ANYONE = frozenset(Role)
MAY: dict[Action, frozenset[Role]] = {
    Action.VIEW: ANYONE,
    Action.START: ANYONE,
    Action.CANCEL: ANYONE,
    Action.RERUN: ANYONE,
    Action.PIN: frozenset({Role.OWNER, Role.LEAD, Role.STAFF}),
    Action.DELETE: frozenset({Role.OWNER, Role.LEAD, Role.STAFF}),
    Action.REVIEW: frozenset({Role.LEAD, Role.STAFF}),
}
# A review is a second pair of eyes: nobody reviews a run they own, whatever else they are.
NEVER_OWN = frozenset({Action.REVIEW})

REFUSED = {
    Action.PIN: "Only the run's owner, a lead of its team or staff may pin or unpin it.",
    Action.DELETE: "Only the run's owner, a lead of its team or staff may delete it.",
    Action.REVIEW: "Only a lead of the run's team (or staff) may review its evidence.",
}
OWN_REVIEW = (
    "Nobody reviews the evidence of their own run: a lead of its team (or staff) reviews it."
)


def runs_visible_to(user):
    """Every run this user has a role toward (the VIEW row of the table), as a query."""
    qs = Run.objects.select_related("owner", "team")
    if user.is_staff:
        return qs
    teams = Membership.objects.filter(user=user).values_list("team_id", flat=True)
    return qs.filter(Q(owner=user) | Q(team_id__in=teams))


def run_roles(user, run: Run) -> frozenset[Role]:
    """The roles `user` holds toward `run` (none: the run is not theirs to see)."""
    if user is None or not user.is_authenticated:
        return frozenset()
    roles = set()
    if user.is_staff:
        roles.add(Role.STAFF)
    if run.owner_id == user.pk:
        roles.add(Role.OWNER)
    if run.team_id is not None:
        found = Membership.objects.filter(team_id=run.team_id, user=user)
        kind = found.values_list("role", flat=True).first()
        if kind is not None:
            roles.add(Role.LEAD if kind == Membership.Role.LEAD else Role.MEMBER)
    return frozenset(roles)


def run_may(user, run: Run, action: Action, roles: frozenset[Role] | None = None) -> bool:
    roles = run_roles(user, run) if roles is None else roles
    if action in NEVER_OWN and Role.OWNER in roles:
        return False
    return bool(roles & MAY[action])


def run_require(*, user, run: Run, action: Action) -> None:
    """Nothing, when `user` may do `action` to `run`; else NotFound (they cannot see it) or
    Forbidden (they can, but this action is not theirs)."""
    roles = run_roles(user, run)
    if not roles:
        raise NotFound("run")
    if run_may(user, run, action, roles):
        return
    message = OWN_REVIEW if action in NEVER_OWN and Role.OWNER in roles else REFUSED[action]
    raise Forbidden(
        message,
        {
            "action": str(action),
            "roles": sorted(str(r) for r in roles),
            "allowed": sorted(str(r) for r in MAY[action]),
            "team": run.team.slug if run.team_id else None,
        },
    )


def may_review_anything(user) -> bool:
    """Whether the user reviews any runs at all (staff, or the lead of a team)."""
    return user.is_staff or Membership.objects.filter(user=user, role=Role.LEAD).exists()


def reviewable_runs(user):
    """The runs whose evidence this user may review: their led teams' runs (every run, for
    staff), never their own."""
    qs = Run.objects.select_related("owner", "team", "evidence")
    if not user.is_staff:
        led = Membership.objects.filter(user=user, role=Membership.Role.LEAD)
        qs = qs.filter(team_id__in=led.values_list("team_id", flat=True))
    return qs.exclude(owner=user)
