"""Teams, quotas and usage (docs/api.md, "Teams, quotas and usage"): everyone reads their own
teams and usage; staff set the quotas of a team or a user, and see everyone's usage."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from ops.audit import note

from ..errors import NotFound
from ..scheduling import quotas, usage
from .auth import staff_required
from .schema import errors
from .team_out import (
    QuotaUpdateIn,
    TeamOut,
    TeamShown,
    UsageOut,
    UsageShown,
    UserQuotasOut,
    UserShown,
)

STAFF_ONLY = "Only staff set quotas; GET /api/v1/usage shows yours."


def team_or_404(slug: str):
    team = usage.team_named(slug)
    if team is None:
        raise NotFound("team", f"No team named {slug!r}; GET /api/v1/teams lists them.")
    return team


def user_or_404(username: str):
    user = usage.user_named(username)
    if user is None:
        raise NotFound("user", f"No user named {username!r}.")
    return user


def quotas_patch(request, scope) -> None:
    """Validate the body, set the quotas, and note what changed for the audit row."""
    body = QuotaUpdateIn(data=request.data)
    body.is_valid(raise_exception=True)
    given = body.validated_data.get("quotas", {})
    before = quotas.quota_set(scope=scope, quotas=given)
    note(scope=scope.kind, name=scope.name, before=before, after=dict(given))


def team_shown(team, role) -> TeamShown:
    return TeamShown(team.slug, role, quotas.limits_of(usage.team_scope(team)))


class TeamCollection(APIView):
    @extend_schema(
        operation_id="listTeams",
        responses={200: TeamOut(many=True)},
        description="The caller's teams with their role and the quotas in force (staff: every "
        "team; role null where they are not a member).",
    )
    def get(self, request):
        teams = usage.teams_of(request.user)
        return Response(TeamOut([team_shown(t, role) for t, role in teams], many=True).data)


class TeamDetail(APIView):
    @extend_schema(
        operation_id="updateTeamQuotas",
        request=QuotaUpdateIn,
        responses={200: TeamOut, **errors("forbidden")},
        description="Staff only. Sets the given quotas of the team (null: back to the default).",
    )
    def patch(self, request, name):
        staff_required(request, STAFF_ONLY)
        team = team_or_404(name)
        quotas_patch(request, usage.team_scope(team))
        role = dict(usage.teams_of(request.user)).get(team)
        return Response(TeamOut(team_shown(team, role)).data)


class UserDetail(APIView):
    @extend_schema(
        operation_id="updateUserQuotas",
        request=QuotaUpdateIn,
        responses={200: UserQuotasOut, **errors("forbidden")},
        description="Staff only. Sets the given quotas of the user (null: back to the default).",
    )
    def patch(self, request, username):
        staff_required(request, STAFF_ONLY)
        scope = usage.user_scope(user_or_404(username))
        quotas_patch(request, scope)
        return Response(UserQuotasOut(UserShown(scope.name, quotas.limits_of(scope))).data)


class UsageList(APIView):
    @extend_schema(
        operation_id="listUsage",
        responses={200: UsageOut(many=True)},
        description="What the caller and each of their teams use against each limit (staff: "
        "every user with runs or a quota, and every team).",
    )
    def get(self, request):
        shown = [
            UsageShown(usage.usage_of(scope), quotas.limits_of(scope))
            for scope in usage.scopes_visible_to(request.user)
        ]
        return Response(UsageOut(shown, many=True).data)
