"""The Grafana dashboard's queries: checked for form, and run by a real Prometheus."""

import json

from .stack import ROOT


def dashboard_queries() -> list[str]:
    """Every PromQL query of the Grafana dashboard, as Grafana would send it (a 1 min interval)."""
    board = json.loads((ROOT / "deploy" / "grafana" / "crownest.json").read_text())
    return [
        target["expr"].replace("$__rate_interval", "1m")
        for panel in board["panels"]
        for target in panel["targets"]
    ]
