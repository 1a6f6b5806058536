"""Browser tests: Debian's Chromium, headless, driven by Playwright against the live stack."""

import os
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; the ORM calls of a test (fixtures,
# assertions) are still plain synchronous code, so Django's async guard must stand aside.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from playwright.sync_api import expect, sync_playwright  # noqa: E402

# A loaded CI machine runs sandboxes slower than a laptop; assertions wait, they do not sleep.
expect.set_options(timeout=20_000)

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-results" / "screenshots"


@pytest.fixture(scope="package")
def browser():
    """Package scope: Playwright's event loop must be gone before other tests use asyncio."""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser, stack):
    """Opens a signed-in page for a user (a context per user: separate cookies)."""
    contexts = []

    def open_as(user, password):
        context = browser.new_context(base_url=stack.base_url, accept_downloads=True)
        context.set_default_timeout(30_000)
        contexts.append(context)
        page = context.new_page()
        page.goto("/accounts/login/")
        page.fill("input[name=username]", user.get_username())
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_url(stack.base_url + "/")
        return page

    yield open_as
    for context in contexts:
        context.close()


@pytest.fixture
def shot():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def save(page, name):
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    return save
