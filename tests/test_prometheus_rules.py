"""The alert rules and the example scrape configuration in deploy/prometheus, checked by Debian's
promtool (scripts/setup.sh installs it): the rules parse, each alert's unit tests pass (it fires
on what should wake someone and stays quiet on its near miss), and the example config parses."""

import json
import shutil
import subprocess

import pytest

from .helpers import ROOT
from .helpers.monitoring import dashboard_queries

PROMETHEUS = ROOT / "deploy" / "prometheus"


@pytest.fixture(scope="module")
def promtool():
    path = shutil.which("promtool")
    assert path, "promtool is missing: `make setup` installs Debian's prometheus package"
    return path


def run(*argv) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=PROMETHEUS, capture_output=True, text=True, timeout=120)


def test_the_rules_parse(promtool):
    done = run(promtool, "check", "rules", "crownest.rules.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 9 rules found" in done.stdout


def test_every_alert_has_unit_tests_and_they_pass(promtool):
    rules = (PROMETHEUS / "crownest.rules.yml").read_text()
    tests = (PROMETHEUS / "crownest.rules.test.yml").read_text()
    alerts = [line.split(":", 1)[1].strip() for line in rules.splitlines() if "- alert:" in line]
    assert len(alerts) == 9
    for alert in alerts:
        assert f"alertname: {alert}" in tests, f"{alert} has no promtool test"
    done = run(promtool, "test", "rules", "crownest.rules.test.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_example_scrape_config_parses(promtool):
    done = run(promtool, "check", "config", "--syntax-only", "prometheus.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_grafana_dashboard_is_well_formed():
    """What Grafana needs to import it: unique panel ids inside a 24-column grid without overlap,
    each query with a refId and an expression on the chosen Prometheus data source (the queries
    themselves run against a real Prometheus in tests/test_prometheus.py)."""
    board = json.loads((ROOT / "deploy" / "grafana" / "crownest.json").read_text())
    assert board["uid"] and board["schemaVersion"] >= 36 and board["title"] == "CrowNest"
    ids, cells = set(), set()
    for panel in board["panels"]:
        assert panel["id"] not in ids and panel["type"] in {"stat", "timeseries"}
        ids.add(panel["id"])
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
        area = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not area & cells, panel["title"]
        cells |= area
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(set(refs)) == len(refs)
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}" and "crownest_" in target["expr"]
    assert len(dashboard_queries()) >= 20
