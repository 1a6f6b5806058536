"""The run page with a 100,000-line log: it opens, keeps only the rows in view in the page, and
finds the last line (followed to the bottom, and by search)."""

import pytest
from playwright.sync_api import expect

from ..helpers import Runs, client_for

pytestmark = [pytest.mark.browser, pytest.mark.docker]

LINES = 100_000


def test_a_100000_line_run_opens_and_finds_its_last_line(stack, django_user_model, new_page):
    user = django_user_model.objects.create_user("flo", password="pw-flo")
    runs = Runs(client_for(user))
    command = f"python3 -c \"for i in range({LINES}): print(f'line {{i}}')\""
    run = runs.submit({"x.txt": "x"}, command=command)
    assert runs.wait(run["id"], timeout=120)["status"] == "succeeded"

    page = new_page(user, "pw-flo")
    page.goto(f"/runs/{run['id']}")
    expect(page.locator("#log-state")).to_have_text("ended", timeout=60_000)
    # Every line is in the view's data (and the run's end as a note after them) ...
    expect(page.locator("#log-count")).to_have_text(f"{LINES + 1} lines")
    # ... but only the rows in view are in the page, and following shows the last one.
    assert page.locator("#log .line").count() < 500
    last = page.locator(f"#L{LINES}")
    expect(last).to_be_visible()
    expect(last.locator(".tx")).to_have_text(f"line {LINES - 1}")

    page.evaluate("document.getElementById('log').scrollTop = 0")
    expect(page.locator("#L1")).to_be_visible()
    expect(last).to_have_count(0)  # scrolled away: its row is gone from the page
    page.fill("#log-search", f"line {LINES - 1}")
    page.press("#log-search", "Enter")
    expect(page.locator("#log-matches")).to_have_text(f"line {LINES} · 1 matching lines")
    expect(last).to_be_visible()
    expect(last).to_have_class("line stdout hl")
