"""The run page as a dashboard, in Chromium: time that moves, the archive's progress above the
log, folding log groups, test results, readable evidence, re-run, the Content-Security-Policy
with hostile output, phones and the keyboard. Screenshots: test-results/screenshots/."""

import json
import re

import pytest
from playwright.sync_api import expect

from runs.models import Run, Transfer
from runs.templatetags.crownest import filesize

from ..helpers import Runs, client_for, make_targz

pytestmark = [pytest.mark.browser, pytest.mark.docker]

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="4" failures="1" skipped="1" time="0.42">
<testcase classname="tests.test_shop" name="test_add_to_cart" time="0.01"/>
<testcase classname="tests.test_shop" name="test_total" time="0.01"/>
<testcase classname="tests.test_shop" name="test_discount" time="0.02"><failure
 message="AssertionError: expected 90.0, got 100.0">def test_discount():
&gt;       assert total(cart, code="SAVE10") == 90.0
E       AssertionError: expected 90.0, got 100.0</failure></testcase>
<testcase classname="tests.test_shop" name="test_refund"><skipped message="later"/></testcase>
</testsuite></testsuites>
"""
TAP = "TAP version 13\nok 1 - renders\nok 2 - links\n1..2\n"
GROUPED = (
    "echo '::group::Install dependencies'\n"
    'for i in $(seq 1 30); do echo "installing package $i"; done\n'
    "echo '::endgroup::'\n"
)


def many_files(count: int) -> dict:
    return {f"d{i // 500}/f{i}.txt": f"{i}\n" for i in range(count)}


def watch_console(page) -> list[str]:
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


def tab_to(page, selector: str, limit: int = 80):
    """Press Tab until the focus is on `selector`, as a keyboard user would."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def no_sideways_scroll(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def test_a_running_run_moves(stack, django_user_model, new_page, shot):
    user = django_user_model.objects.create_user("tim", password="pw-tim")
    runs = Runs(client_for(user))
    # Enough files that extraction (one container, streamed) lasts long enough to be watched.
    files = many_files(30000)
    files["run.sh"] = GROUPED + "sleep 1\nfor i in $(seq 1 14); do echo tick $i; sleep 0.5; done\n"
    data = make_targz(files)
    run = runs.create(data, command="sh run.sh")
    assert runs.upload(run["id"], data).status_code == 200
    page = new_page(user, "pw-tim")
    errors = watch_console(page)
    page.goto(f"/runs/{run['id']}")
    expect(page.locator("#log-empty")).to_contain_text("start")
    expect(page.locator("#log-state")).to_have_text("live")
    assert runs.start(run["id"]).status_code == 202

    # Extraction shows as a bar above the log, with bytes and files.
    bar = page.wait_for_selector(
        "#archive-progress[data-phase=extract]:not([hidden])", state="visible", timeout=60_000
    )
    assert "Extracting into /workspace" in bar.inner_text()
    # The bytes fed to tar are the compressed archive's, and the line says so.
    assert re.search(r"[\d.]+ KiB of [\d.]+ KiB compressed · \d+%", bar.inner_text()), (
        bar.inner_text()
    )

    log = page.locator("#log")
    expect(log).to_contain_text("tick 2", timeout=60_000)
    # The group folded when it ended: its header stays, its lines go.
    fold = page.locator("#log button.fold")
    expect(fold).to_contain_text("Install dependencies")
    expect(fold).to_have_attribute("aria-expanded", "false")
    expect(fold).to_contain_text("30 lines")
    expect(log).not_to_contain_text("installing package 7")
    expect(log).not_to_contain_text("::group::")
    # The extraction's summary stays above the log.
    expect(page.locator("#archive-progress")).to_contain_text("Archive extracted")
    expect(page.locator("#archive-progress")).to_contain_text("30,001 files")
    # ... with the size that landed in /workspace, and the compressed one named as such.
    unpacked = filesize(Run.objects.get(pk=run["id"]).archive_expanded_bytes)
    expect(page.locator("#archive-progress")).to_contain_text(
        f"30,001 files, {unpacked} ({filesize(len(data))} compressed)"
    )

    # Durations count on by themselves: the header and the command's phase.
    duration = page.locator("#duration")
    first = duration.inner_text()
    page.wait_for_timeout(2100)
    assert duration.inner_text() != first, first
    expect(page.locator(".phases .phase-command.open")).to_be_visible()
    expect(page.locator(".phases .phase-queue")).to_be_visible()
    shot(page, "run-running")

    # The runs list counts the running row on too.
    listing = page.context.new_page()
    list_errors = watch_console(listing)
    listing.goto("/")
    cell = listing.locator(f"tr[data-run={run['id']}] time.duration")
    before = cell.inner_text()
    listing.wait_for_timeout(2100)
    assert cell.inner_text() != before, before
    listing.close()

    # The group opens and folds again with the keyboard.
    page.locator("#log-follow").uncheck()
    tab_to(page, "#log button.fold")
    page.keyboard.press("Enter")
    expect(fold).to_have_attribute("aria-expanded", "true")
    expect(log).to_contain_text("installing package 7")
    page.keyboard.press("Enter")
    expect(fold).to_have_attribute("aria-expanded", "false")
    expect(log).not_to_contain_text("installing package 7")

    expect(page.locator("#status-badge")).to_have_text("succeeded", timeout=60_000)
    expect(page.locator("#duration")).to_have_text(re.compile(r"^\d+\.\ds$"))
    phases = page.locator(".phases .phase")
    expect(phases.filter(has_text="command")).to_be_visible()
    expect(phases.filter(has_text="extract")).to_be_visible()
    # The raw log keeps the group lines as printed.
    with page.expect_download() as dl:
        page.click("#log-download")
    raw = open(dl.value.path()).read()
    assert "::group::Install dependencies\n" in raw and "::endgroup::\n" in raw
    assert errors == [] and list_errors == []


def test_succeeded_with_test_results_and_readable_evidence(
    stack, django_user_model, new_page, shot
):
    user = django_user_model.objects.create_user("ula", password="pw-ula")
    runs = Runs(client_for(user))
    script = (
        GROUPED
        + "mkdir -p reports\ncat junit.xml > reports/junit.xml\ncp ui.tap reports/ui.tap\n"
        + "echo '12 tests, 1 failed (see the report)'\n"
    )
    run = runs.submit(
        {"run.sh": script, "junit.xml": JUNIT, "ui.tap": TAP},
        command="sh run.sh",
        artifactPaths=["reports/"],
    )
    runs.wait(run["id"])
    runs.wait_evidence(run["id"])
    page = new_page(user, "pw-ula")
    errors = watch_console(page)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(f"/runs/{run['id']}")
    results = page.locator("#test-results")
    expect(results).to_contain_text("4 passed")
    expect(results).to_contain_text("1 failed")
    expect(results).to_contain_text("1 skipped")
    failing = results.locator(".failure")
    expect(failing).to_have_count(1)
    expect(failing).to_contain_text("tests.test_shop › test_discount")
    expect(failing).to_contain_text("AssertionError: expected 90.0, got 100.0")
    expect(page.locator(".tests-chip")).to_contain_text("4 passed, 1 failed")
    expect(page.locator("#verify-status")).to_have_class("verify verified")

    # Limits in words.
    limits = page.locator("#limits")
    expect(limits).to_contain_text("no network")
    expect(limits).to_contain_text("memory 256 MiB")
    expect(limits).to_contain_text("output 4 MiB")
    expect(limits).not_to_contain_text("False")
    expect(limits).not_to_contain_text("4194304")

    # The bundle as JSON that parses, with copy and download.
    page.click("#bundle-json-box summary")
    bundle = json.loads(page.locator("#bundle-json").inner_text())
    assert bundle["runId"] == run["id"] and bundle["failureReason"] is None
    assert '"failureReason": null' in page.locator("#bundle-json").inner_text()
    page.click("#bundle-json-box button[data-copy]")
    expect(page.locator("#bundle-json-box .copy-note")).to_have_text("Copied.")
    assert json.loads(page.evaluate("navigator.clipboard.readText()"))["runId"] == run["id"]
    page.click("#statement-json-box summary")
    statement = json.loads(page.locator("#statement-json").inner_text())
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    with page.expect_download() as dl:
        page.click("#statement-json-box button[data-download]")
    assert dl.value.suggested_filename == f"{run['id']}.statement.json"
    assert json.loads(open(dl.value.path()).read()) == statement
    # "Download JSON" is served as an attachment, not opened in the tab.
    resp = page.request.get(f"/api/v1/workspace-runs/{run['id']}/evidence?download=1")
    assert resp.headers["content-disposition"] == (
        f'attachment; filename="{run["id"]}-evidence.json"'
    )
    with page.expect_download() as dl:
        page.click("text=Download JSON")
    assert json.loads(open(dl.value.path()).read())["runId"] == run["id"]
    page.locator("#test-results").scroll_into_view_if_needed()
    shot(page, "run-succeeded-tests")
    assert errors == []


def test_failed_run_and_rerun_from_the_page(stack, django_user_model, new_page, shot):
    user = django_user_model.objects.create_user("val", password="pw-val")
    runs = Runs(client_for(user))
    failed = runs.submit({"a.txt": "a"}, command="echo about to fail >&2; exit 3")
    runs.wait(failed["id"])
    page = new_page(user, "pw-val")
    errors = watch_console(page)
    page.goto(f"/runs/{failed['id']}")
    expect(page.locator("#failure")).to_have_text("Failed: the command exited with code 3.")
    expect(page.locator("#log")).to_contain_text("about to fail")
    expect(page.locator("#evidence[data-ready]")).to_be_visible(timeout=30_000)
    shot(page, "run-failed")

    # Re-run of a succeeded run, with the keyboard: a new run, same archive, no upload.
    ok = runs.submit({"ok.sh": "cat ok.sh | wc -l; echo rerun-ok"}, command="sh ok.sh")
    runs.wait(ok["id"])
    page.goto(f"/runs/{ok['id']}")
    expect(page.locator("#status-badge")).to_have_text("succeeded")
    tab_to(page, "#rerun")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/runs/wr_(?!" + ok["id"][3:] + ")"))
    new_id = page.url.rsplit("/", 1)[1]
    banner = page.locator("#rerun-of")
    expect(banner).to_contain_text(f"Re-run of {ok['id']}")
    expect(banner).to_contain_text("not uploaded again")
    expect(page.locator("#status-badge")).to_have_text("succeeded", timeout=60_000)
    expect(page.locator("#log")).to_contain_text("rerun-ok")
    again = runs.get(new_id)
    assert again["rerunOf"] == ok["id"] and again["archive"]["uploadMethod"] == "reused"
    assert Run.objects.get(pk=new_id).archive_file == Run.objects.get(pk=ok["id"]).archive_file
    assert not Transfer.objects.filter(run_id=new_id).exists()
    upload_events = [
        e
        for e in runs.events(new_id)
        if e["type"] == "archive_progress" and e["data"]["phase"] == "upload"
    ]
    assert upload_events == []
    page.goto(f"/runs/{ok['id']}")
    expect(page.locator("#reruns")).to_contain_text(new_id)
    assert errors == []


def test_hostile_output_runs_no_script(stack, django_user_model, new_page, shot):
    user = django_user_model.objects.create_user("wes", password="pw-wes")
    runs = Runs(client_for(user))
    hostile = "<img src=x onerror=window.__pwned=1><script>window.__pwned=2</script>"
    script = (
        f"echo '{hostile}'\n"
        f"echo '::group::{hostile}'\necho inside\necho '::endgroup::'\n"
        "mkdir -p out reports\n"
        "echo x > 'out/<svg onload=window.__pwned=3>.txt'\n"
        "cat evil.xml > reports/evil.xml\n"
    )
    evil = (
        '<testsuite><testcase name="&lt;img src=x onerror=window.__pwned=4&gt;">'
        '<failure message="&lt;script&gt;window.__pwned=5&lt;/script&gt;"/></testcase></testsuite>'
    )
    run = runs.submit(
        {"run.sh": script, "evil.xml": evil},
        command=f"sh run.sh # {hostile}",
        artifactPaths=["out/", "reports/"],
        env={"X": hostile},
    )
    runs.wait(run["id"])
    page = new_page(user, "pw-wes")
    errors = watch_console(page)
    resp = page.goto(f"/runs/{run['id']}")
    policy = resp.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    expect(page.locator("#log")).to_contain_text(hostile)
    expect(page.locator("#log button.fold")).to_contain_text("<img src=x")
    expect(page.locator("#artifacts")).to_contain_text("<svg onload=window.__pwned=3>.txt")
    expect(page.locator("#test-results")).to_contain_text("<script>window.__pwned=5</script>")
    expect(page.locator(".run-command")).to_contain_text(hostile)
    page.wait_for_timeout(500)
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#run img, #run svg[onload], #run script").count() == 0
    assert errors == []
    shot(page, "run-hostile-output")

    # Were an escape ever missed, the policy would still stop it: markup injected as HTML
    # (as a broken template would) runs neither its inline handler nor its inline script.
    page.evaluate(
        """() => {
            window.__violations = [];
            document.addEventListener("securitypolicyviolation",
                (e) => window.__violations.push(e.violatedDirective));
            const box = document.createElement("div");
            box.innerHTML = '<img src="/static/favicon.svg" onload="window.__pwned=6">';
            document.body.appendChild(box);
            const s = document.createElement("script");
            s.textContent = "window.__pwned = 7";
            document.body.appendChild(s);
        }"""
    )
    page.wait_for_function("window.__violations.length >= 2")
    assert page.evaluate("window.__pwned") is None
    assert all(v.startswith("script-src") for v in page.evaluate("window.__violations"))

    # Every page answers with the policy.
    for path in ["/", "/runs/new", f"/runs/{run['id']}", "/reviews", "/api/v1/docs/"]:
        answer = page.goto(path)
        assert answer.status == 200, path
        assert "default-src 'self'" in answer.headers["content-security-policy"], path


def test_phones_and_new_run_page(stack, django_user_model, new_page, shot, tmp_path):
    user = django_user_model.objects.create_user("xia", password="pw-xia")
    runs = Runs(client_for(user))
    long_command = "sh run.sh --with-a-rather-long-option=" + "x" * 120
    run = runs.submit(
        {
            "run.sh": GROUPED + "mkdir -p reports; cat junit.xml > reports/junit.xml",
            "junit.xml": JUNIT,
        },
        command=long_command,
        artifactPaths=["reports/"],
    )
    runs.wait(run["id"])
    runs.wait_evidence(run["id"])
    page = new_page(user, "pw-xia")
    errors = watch_console(page)
    page.set_viewport_size({"width": 390, "height": 844})
    for path, name in [
        ("/", "runs-list-390"),
        (f"/runs/{run['id']}", "run-390"),
        ("/runs/new", "new-run-390"),
        ("/reviews", None),
    ]:
        page.goto(path)
        page.wait_for_load_state("networkidle")
        assert no_sideways_scroll(page) <= 0, (path, no_sideways_scroll(page))
        if name:
            shot(page, name)
    page.goto(f"/runs/{run['id']}")
    expect(page.locator("#verify-status")).to_have_class("verify verified")
    page.click("#bundle-json-box summary")
    assert no_sideways_scroll(page) <= 0

    # The new-run page under the policy: WebAssembly hashing works and the rate is a real one.
    archive = tmp_path / "repo.tgz"
    archive.write_bytes(make_targz({"hi.sh": "echo hi from a phone"}))
    page.goto("/runs/new")
    rate = page.evaluate(
        """async () => {
            const seen = [];
            const tick = window.CrowNestUpload.meter(10 * 1024 * 1024, (p) => seen.push(p.rate));
            tick(0, "Computing sha256");
            await new Promise((r) => setTimeout(r, 200));
            tick(4 * 1024 * 1024, "Computing sha256");
            return seen;
        }"""
    )
    assert rate[0] is None and rate[1] > 1024 * 1024, rate
    page.set_input_files("#archive", str(archive))
    page.fill("#command", "sh hi.sh")
    page.click("#submit")
    page.wait_for_url(re.compile(r"/runs/wr_"), timeout=60_000)
    expect(page.locator("#log")).to_contain_text("hi from a phone", timeout=60_000)
    assert no_sideways_scroll(page) <= 0
    page.wait_for_load_state("networkidle")  # late requests (and their errors) are in
    assert errors == []


def test_no_console_errors_on_any_page(stack, django_user_model, new_page, browser):
    user = django_user_model.objects.create_user(
        "yan", password="pw-yan", is_staff=True, is_superuser=True
    )
    runs = Runs(client_for(user))
    run = runs.submit({"a.txt": "a"}, command="echo hello", artifactPaths=["a.txt"])
    runs.wait(run["id"])
    runs.wait_evidence(run["id"])
    page = new_page(user, "pw-yan")
    errors = watch_console(page)
    failed = []
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    for path in [
        "/",
        "/runs/new",
        f"/runs/{run['id']}",
        "/reviews",
        "/templates",
        "/templates/python-node",
        "/api/v1/docs/",
        "/admin/",
        "/admin/runs/template/python-node/change/",
        f"/admin/runs/run/{run['id']}/change/",
    ]:
        page.goto(path)
        page.wait_for_load_state("networkidle")
    expect(page.locator("h1")).to_be_visible()
    anonymous = browser.new_context(base_url=stack.base_url)
    login = anonymous.new_page()
    login_errors = watch_console(login)
    login.goto("/accounts/login/")
    login.wait_for_load_state("networkidle")
    favicon = login.request.get("/favicon.ico")
    assert favicon.ok and favicon.headers["content-type"] in (
        "image/x-icon",
        "image/vnd.microsoft.icon",
    )
    anonymous.close()
    assert errors == [] and login_errors == [] and failed == []
