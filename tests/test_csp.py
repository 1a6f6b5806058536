"""The Content-Security-Policy on every response, and pages that keep to it: no inline script,
no inline style, no event-handler attributes, nothing from another origin."""

import re
from html.parser import HTMLParser

import pytest

from crownest_web.csp import STRICT, WITH_WASM
from runs.models import Membership, Team

from .helpers import Runs, client_for, make_targz

pytestmark = pytest.mark.django_db


def directives(header: str) -> dict:
    return {d.split()[0]: d.split()[1:] for d in header.split(";") if d.strip()}


def test_the_policy_is_strict():
    d = directives(STRICT)
    assert d["default-src"] == ["'self'"] and d["script-src"] == ["'self'"]
    assert d["style-src"] == ["'self'"] and d["object-src"] == ["'none'"]
    assert d["base-uri"] == ["'none'"] and d["frame-ancestors"] == ["'none'"]
    for values in d.values():
        assert not any(v in ("'unsafe-inline'", "'unsafe-eval'", "*") for v in values)
        assert not any(v.startswith(("http", "https:", "//")) for v in values)
    assert directives(WITH_WASM)["script-src"] == ["'self'", "'wasm-unsafe-eval'"]


class InlineFinder(HTMLParser):
    """Collects what a strict policy would block: inline scripts and styles, handlers, and
    resources from other origins."""

    def __init__(self):
        super().__init__()
        self.found, self.in_script = [], False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and not attrs.get("src"):
            self.in_script = True
        if tag == "style":
            self.found.append("<style>")
        for name, value in attrs.items():
            if name == "style" or name.startswith("on"):
                self.found.append(f"{tag} {name}=")
            if name in ("src", "href") and value and re.match(r"^(https?:)?//", value):
                self.found.append(f"{tag} {name}={value}")

    def handle_data(self, data):
        if self.in_script and data.strip():
            self.found.append(f"inline script: {data[:40]!r}")

    def handle_endtag(self, tag):
        if tag == "script":
            self.in_script = False


def inline_parts(html: str) -> list[str]:
    finder = InlineFinder()
    finder.feed(html)
    return finder.found


@pytest.fixture
def pages(user, client):
    team = Team.objects.create(slug="qa", name="QA")
    Membership.objects.create(team=team, user=user, role="lead")
    runs = Runs(client_for(user))
    data = make_targz({"a": "x"})
    run = runs.create(data, command="echo '<script>alert(1)</script>' \"onerror=x\"", team="qa")
    runs.cancel(run["id"])
    client.force_login(user)
    return run["id"]


PAGES = [
    "/",
    "/?fragment=table",
    "/runs/new",
    "/runs/{run}",
    "/runs/{run}/panels",
    "/reviews",
    "/api/v1/docs/",
    "/admin/",
    "/admin/runs/run/",
    "/admin/runs/run/{run}/change/",
]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_has_the_policy_and_keeps_to_it(client, pages, path):
    resp = client.get(path.format(run=pages), follow=True)
    assert resp.status_code == 200, (path, resp.status_code)
    expected = WITH_WASM if path == "/runs/new" else STRICT
    assert resp["Content-Security-Policy"] == expected
    html = resp.content.decode()
    found = inline_parts(html)
    if path.startswith("/admin/"):
        # Django's own admin: only its change list's one <style> (a style, never a script).
        found = [f for f in found if f != "<style>"]
    assert found == [], (path, found)


@pytest.mark.parametrize(
    "path",
    [
        "/accounts/login/",
        "/healthz",
        "/api/v1/workspace-runs",
        "/api/v1/schema/",
        "/api/v1/docs/?script=",
        "/runs/{run}/log.txt",
        "/static/css/app.css",
        "/no/such/page",
    ],
)
def test_other_answers_carry_it_too(client, pages, path):
    resp = client.get(path.format(run=pages))
    assert resp["Content-Security-Policy"] == STRICT, path


def test_favicon(client):
    resp = client.get("/favicon.ico")
    assert resp.status_code == 301 and resp["Location"].endswith("/static/favicon.ico")
    assert resp["Content-Security-Policy"] == STRICT
