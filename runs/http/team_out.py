"""The shapes of teams, quotas and usage: the request body that sets quotas and the answers that
show them, each declared once (the OpenAPI schema is generated from these)."""

from dataclasses import dataclass

from rest_framework import serializers

from .inputs.fields import INT32_MAX, StrictInt
from .shapes import Number, Timestamp, named

INT64_MAX = 2**63 - 1
# What each quota bounds (QUOTA_FIELDS of runs/scheduling/models.py names the same ones).
QUOTA_WORDS = {
    "maxRunning": "runs running at once (more wait in queued)",
    "runMinutesPerDay": "run minutes per UTC day",
    "runMinutesPerMonth": "run minutes per calendar month (UTC)",
    "storedBytes": "bytes of stored archives and artifacts",
    "maxAwaitingArchive": "runs waiting for their archive at once",
}


def _quota_in(name: str) -> serializers.Field:
    top = INT64_MAX if name == "storedBytes" else INT32_MAX
    return StrictInt(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=top,
        help_text=f"{QUOTA_WORDS[name]}; null: back to the default; 0: no limit",
    )


def _quota_out(name: str) -> serializers.Field:
    return serializers.IntegerField(allow_null=True, help_text=f"{QUOTA_WORDS[name]}; null: none")


@named("QuotasPatch", additionalProperties=False)
class QuotasIn(serializers.Serializer):
    maxRunning = _quota_in("maxRunning")
    runMinutesPerDay = _quota_in("runMinutesPerDay")
    runMinutesPerMonth = _quota_in("runMinutesPerMonth")
    storedBytes = _quota_in("storedBytes")
    maxAwaitingArchive = _quota_in("maxAwaitingArchive")

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({k: ["is not a quota"] for k in unknown})
        return super().to_internal_value(data)


@named("QuotaUpdate", additionalProperties=False)
class QuotaUpdateIn(serializers.Serializer):
    quotas = QuotasIn(required=False, help_text="only the quotas given change")

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - {"quotas"})
            if unknown:
                raise serializers.ValidationError({k: ["is not a field"] for k in unknown})
        return super().to_internal_value(data)


@named("Quotas")
class QuotasOut(serializers.Serializer):
    """The limits in force (a team's or user's own value, else the setting's default)."""

    maxRunning = _quota_out("maxRunning")
    runMinutesPerDay = _quota_out("runMinutesPerDay")
    runMinutesPerMonth = _quota_out("runMinutesPerMonth")
    storedBytes = _quota_out("storedBytes")
    maxAwaitingArchive = _quota_out("maxAwaitingArchive")


@dataclass
class TeamShown:
    name: str
    role: str | None
    quotas: dict


@named("Team")
class TeamOut(serializers.Serializer):
    name = serializers.CharField(help_text="the team's slug, as runs name it (`team`)")
    role = serializers.ChoiceField(
        choices=["member", "lead"], allow_null=True, help_text="null: staff, not a member"
    )
    quotas = QuotasOut()


@dataclass
class UserShown:
    name: str
    quotas: dict


@named("UserQuotas")
class UserQuotasOut(serializers.Serializer):
    name = serializers.CharField(help_text="the username")
    quotas = QuotasOut()


@named("UsageUsed")
class UsedOut(serializers.Serializer):
    runningRuns = serializers.IntegerField(source="running_runs")
    runMinutesToday = Number(source="run_minutes_today", help_text="runs started today (UTC)")
    runMinutesThisMonth = Number(source="run_minutes_this_month")
    storedBytes = serializers.IntegerField(source="stored_bytes")
    awaitingArchive = serializers.IntegerField(source="awaiting_archive")


@named("UsageResets")
class ResetsOut(serializers.Serializer):
    day = Timestamp(source="day_resets_at", help_text="the next UTC midnight")
    month = Timestamp(source="month_resets_at", help_text="the first of next month, UTC")


@named("Usage")
class UsageOut(serializers.Serializer):
    scope = serializers.ChoiceField(choices=["user", "team"], source="usage.scope.kind")
    name = serializers.CharField(source="usage.scope.name")
    used = UsedOut(source="usage")
    limits = QuotasOut()
    resetsAt = ResetsOut(source="usage")


@dataclass
class UsageShown:
    usage: object
    limits: dict
