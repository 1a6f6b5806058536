"""The web pages in a real browser: new run, live log, cancel, review, scoping."""

import json
import os
import re

import pytest
from playwright.sync_api import expect

from runs.models import Membership, Team

from ..helpers import Runs, client_for, make_targz

pytestmark = [pytest.mark.browser, pytest.mark.docker]

SCRIPT = (
    "for i in 1 2 3 4 5 6; do echo line $i; sleep 0.4; done\n"
    "printf '\\033[31mred warning\\033[0m\\n' >&2\n"
    "echo '<b>not html</b>'\n"
    "mkdir -p out && echo report > out/report.txt\n"
)


def test_login_and_header(stack, django_user_model, new_page, shot):
    user = django_user_model.objects.create_user("ann", password="pw-ann")
    team = Team.objects.create(slug="platform", name="Platform")
    Membership.objects.create(team=team, user=user, role="lead")
    page = new_page(user, "pw-ann")
    expect(page.get_by_test_id("who")).to_have_text("ann")
    expect(page.locator(".team-chip")).to_contain_text("platform · lead")
    shot(page, "runs-list-empty")
    page.click("text=Sign out")
    expect(page.locator("h1")).to_have_text("Signed out")
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    shot(page, "login")


def test_upload_watch_and_download(stack, django_user_model, new_page, shot, tmp_path):
    user = django_user_model.objects.create_user("bob", password="pw-bob")
    archive = tmp_path / "repo.tgz"
    archive.write_bytes(make_targz({"run.sh": SCRIPT}))
    page = new_page(user, "pw-bob")
    page.click("text=New run")
    page.set_input_files("#archive", str(archive))
    page.fill("#command", "sh run.sh")
    page.fill("#artifact-paths", "out/")
    shot(page, "new-run")
    page.click("#submit")
    page.wait_for_url(re.compile(r"/runs/wr_"))
    run_id = page.url.rsplit("/", 1)[1]

    log = page.locator("#log")
    expect(log).to_contain_text("line 1")
    # Lines arrive while the run is still going, not only at the end: the page has taken the
    # run's "running" status event (it comes before any output) and not yet its end.
    expect(page.locator("#run")).to_have_attribute("data-status", "running")
    expect(log).to_contain_text("line 6")
    expect(page.locator("#status-badge")).to_have_text("succeeded", timeout=60_000)
    # stderr is told apart and its colour rendered; log text never becomes markup.
    expect(page.locator("#log .line.stderr .fg1")).to_have_text("red warning")
    expect(log).to_contain_text("<b>not html</b>")
    assert page.locator("#log b").count() == 0

    expect(page.locator("#evidence[data-ready]")).to_be_visible(timeout=30_000)
    shot(page, "run-succeeded")
    with page.expect_download() as dl:
        page.click(".artifact-download >> nth=0")
    assert dl.value.suggested_filename == "report.txt"
    assert open(dl.value.path()).read() == "report\n"
    with page.expect_download() as dl:
        page.click("text=Download JSON")
    bundle = json.loads(open(dl.value.path()).read())
    assert bundle["runId"] == run_id and bundle["status"] == "succeeded"
    with page.expect_download() as dl:
        page.click("text=Download log")
    assert "line 6" in open(dl.value.path()).read()

    page.goto("/")
    row = page.locator(f"tr[data-run={run_id}]")
    expect(row.locator(".badge")).to_have_text("succeeded")
    page.fill("input[name=q]", "run.sh")
    page.click("text=Filter")
    expect(page.locator(f"tr[data-run={run_id}]")).to_be_visible()
    shot(page, "runs-list")


def test_refused_archive_shows_the_reason(stack, django_user_model, new_page, tmp_path):
    user = django_user_model.objects.create_user("cid", password="pw-cid")
    bogus = tmp_path / "bogus.tgz"
    bogus.write_bytes(b"this is not gzip at all")
    page = new_page(user, "pw-cid")
    page.goto("/runs/new")
    page.set_input_files("#archive", str(bogus))
    page.fill("#command", "true")
    page.click("#submit")
    expect(page.locator("#error")).to_contain_text("unsupported_archive")


def test_cancel_from_the_run_page(stack, django_user_model, new_page, shot):
    user = django_user_model.objects.create_user("dee", password="pw-dee")
    runs = Runs(client_for(user))
    run = runs.submit({"a": "x"}, command="echo started; sleep 300")
    page = new_page(user, "pw-dee")
    page.goto(f"/runs/{run['id']}")
    expect(page.locator("#log")).to_contain_text("started", timeout=60_000)
    page.once("dialog", lambda d: d.accept())
    page.click("#cancel")
    expect(page.locator("#status-badge")).to_have_text("canceled", timeout=30_000)
    shot(page, "run-canceled")


def test_many_lines_stay_responsive(stack, django_user_model, new_page):
    user = django_user_model.objects.create_user("eve", password="pw-eve")
    runs = Runs(client_for(user))
    run = runs.submit({"a": "x"}, command="seq 1 100000")
    runs.wait(run["id"])
    page = new_page(user, "pw-eve")
    page.goto(f"/runs/{run['id']}#L50000")
    expect(page.locator("#log-count")).to_contain_text("100001 lines", timeout=60_000)
    expect(page.locator("#L50000")).to_be_visible()
    # Only the rows in view exist in the DOM.
    assert page.locator("#log .line").count() < 300
    page.fill("#log-search", "99999")
    page.press("#log-search", "Enter")
    expect(page.locator("#L99999")).to_be_visible()


def test_team_lead_reviews(stack, django_user_model, new_page, shot):
    member = django_user_model.objects.create_user("fay", password="pw-fay")
    lead = django_user_model.objects.create_user("gus", password="pw-gus")
    team = Team.objects.create(slug="qa", name="QA")
    Membership.objects.create(team=team, user=member, role="member")
    Membership.objects.create(team=team, user=lead, role="lead")
    runs = Runs(client_for(member))
    run = runs.submit({"a": "x"}, command="echo ok", team="qa")
    runs.wait(run["id"])
    runs.wait_evidence(run["id"])

    page = new_page(member, "pw-fay")
    page.goto(f"/runs/{run['id']}")
    expect(page.locator("#evidence[data-ready]")).to_be_visible()
    assert page.locator(".review-form").count() == 0

    page = new_page(lead, "pw-gus")
    page.click("text=Reviews")
    shot(page, "review-queue")
    page.click(f"text={run['id']}")
    page.fill(".review-form textarea", "evidence checks out")
    page.click("button[value=approve]")
    expect(page.get_by_test_id("review")).to_contain_text("evidence checks out")
    expect(page.get_by_test_id("review")).to_contain_text("by gus")
    shot(page, "run-reviewed")
    page.goto("/reviews")
    expect(page.locator("text=Nothing awaits review.")).to_be_visible()


def test_others_run_page_is_404(stack, django_user_model, new_page, shot):
    owner = django_user_model.objects.create_user("hal", password="pw-hal")
    stranger = django_user_model.objects.create_user("ivy", password="pw-ivy")
    run = Runs(client_for(owner)).create(make_targz({"a": "x"}))
    page = new_page(stranger, "pw-ivy")
    resp = page.goto(f"/runs/{run['id']}")
    assert resp.status == 404
    shot(page, "run-404")


def test_large_archive_goes_staged_and_resumes_after_a_dropped_connection(
    stack, django_user_model, new_page, shot, tmp_path
):
    user = django_user_model.objects.create_user("joe", password="pw-joe")
    # Incompressible, so the archive spans two of the server's 8 MiB chunks.
    archive = tmp_path / "big.tgz"
    archive.write_bytes(make_targz({"blob.bin": os.urandom(9 * 1024 * 1024), "run.sh": "ls -l"}))
    page = new_page(user, "pw-joe")
    page.goto("/runs/new")
    # Send it staged as if it were over the direct limit (the page reads the server's limit).
    page.evaluate("document.getElementById('new-run').dataset.directLimit = '1024'")
    chunk_puts = []

    def drop_the_second_chunk_once(route):
        if route.request.method == "PUT":
            chunk_puts.append(route.request.headers.get("content-range"))
            if len(chunk_puts) == 2:
                return route.abort("connectionreset")
        return route.continue_()

    page.route("**/api/v1/transfers/*", drop_the_second_chunk_once)
    page.set_input_files("#archive", str(archive))
    page.fill("#command", "sh run.sh")
    page.click("#submit")
    page.wait_for_url(re.compile(r"/runs/wr_"), timeout=60_000)
    run_id = page.url.rsplit("/", 1)[1]
    expect(page.locator("#status-badge")).to_have_text("succeeded", timeout=60_000)
    expect(page.locator("#log")).to_contain_text("blob.bin")
    size = archive.stat().st_size
    second = f"bytes {8 * 1024 * 1024}-{size - 1}/{size}"
    assert chunk_puts == [f"bytes 0-{8 * 1024 * 1024 - 1}/{size}", second, second]
    run = client_for(user).get(f"/api/v1/workspace-runs/{run_id}").json()
    assert run["archive"]["uploadMethod"] == "staged"
