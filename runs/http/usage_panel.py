"""The runs list's usage panel: what the signed-in user and each of their teams use against each
limit, from the same measurements and limits as GET /api/v1/usage."""

from dataclasses import dataclass

from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from ..ids import iso
from ..scheduling import quotas, usage


@dataclass
class Cell:
    label: str
    used: str
    limit: str  # "" when there is no limit
    fraction: float | None  # used / limit, for the meter; None without a limit


def _number(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _cell(label: str, used, limit, shown=_number) -> Cell:
    if not limit:
        return Cell(label, shown(used), "", None)
    return Cell(label, shown(used), shown(limit), min(used / limit, 1.0))


def _cells(measured: usage.Usage, limits: dict) -> list[Cell]:
    return [
        _cell("Running", measured.running_runs, limits["maxRunning"]),
        _cell("Run minutes today", measured.run_minutes_today, limits["runMinutesPerDay"]),
        _cell(
            "Run minutes this month", measured.run_minutes_this_month, limits["runMinutesPerMonth"]
        ),
        _cell("Stored", measured.stored_bytes, limits["storedBytes"], filesizeformat),
        _cell("Awaiting archive", measured.awaiting_archive, limits["maxAwaitingArchive"]),
    ]


def usage_panel(user) -> dict:
    rows = []
    for scope in usage.own_scopes(user):
        measured = usage.usage_of(scope)
        label = "You" if scope.kind == "user" else f"Team {scope.name}"
        rows.append({"label": label, "cells": _cells(measured, quotas.limits_of(scope))})
    now = timezone.now()  # the same resets for every scope
    return {
        "usage_rows": rows,
        "usage_day_resets": iso(usage.next_day(now)),
        "usage_month_resets": iso(usage.next_month(now)),
    }
