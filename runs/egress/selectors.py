"""Reads of a run's network for the pages (the API reads through store.py's shapes)."""

from django.db.models import Case, IntegerField, Value, When

from .models import NetworkRequest, RunNetwork

PANEL_ROWS = 200


def network_panel(run) -> dict:
    """The run page's Network panel: the record, and its requests with the refused first."""
    network = RunNetwork.objects.filter(run_id=run.id).select_related("replay_of").first()
    if network is None or network.mode == RunNetwork.Mode.NONE:
        return {"network": None, "network_requests": []}
    refused_first = Case(
        When(decision=NetworkRequest.Decision.REFUSED, then=Value(0)),
        default=Value(1),
        output_field=IntegerField(),
    )
    rows = NetworkRequest.objects.filter(run_id=run.id).order_by(refused_first, "seq")
    return {"network": network, "network_requests": list(rows[:PANEL_ROWS])}
