"""The new-run page against a web process configured for S3: a large archive goes part by part
straight to the bucket (CORS allows the page's origin there), a dropped part is sent again
from what the server says is stored, and the run reads its archive from the bucket."""

import os
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from ..helpers import client_for, make_targz
from ..s3support import BUCKET, files_under

pytestmark = [pytest.mark.browser, pytest.mark.s3, pytest.mark.multihost]


def test_the_browser_sends_parts_to_the_bucket_and_resends_a_dropped_one(
    browser, s3_web, s3_worker, s3_media, transactional_db, django_user_model, tmp_path
):
    user = django_user_model.objects.create_user("kim", password="pw-kim")
    archive = tmp_path / "big.tgz"  # three parts of 5 MiB (s3_web's part size)
    archive.write_bytes(make_targz({"blob.bin": os.urandom(11 * 1024 * 1024), "run.sh": "ls -l"}))
    context = browser.new_context(base_url=s3_web)
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.fill("input[name=username]", "kim")
    page.fill("input[name=password]", "pw-kim")
    page.click("button[type=submit]")
    page.wait_for_url(s3_web + "/")
    page.goto("/runs/new")
    page.evaluate("document.getElementById('new-run').dataset.directLimit = '1024'")

    part_puts, server_puts = [], []

    def drop_part_two_once(route):
        if route.request.method != "PUT":
            return route.continue_()
        number = int(parse_qs(urlsplit(route.request.url).query)["partNumber"][0])
        part_puts.append(number)
        if number == 2 and part_puts.count(2) == 1:
            return route.abort("connectionreset")
        # moto's server answers a PUT with its own global CORS headers, which do not expose
        # ETag; S3 applies the bucket's rule (ExposeHeaders: ETag, s3support.CORS) instead.
        answer = route.fetch()
        headers = {**answer.headers, "access-control-expose-headers": "ETag"}
        return route.fulfill(response=answer, headers=headers)

    def note_server_put(route):
        if route.request.method == "PUT":
            server_puts.append(route.request.url)
        return route.continue_()

    page.route(re.compile(rf".*/{BUCKET}/archives/.*"), drop_part_two_once)
    page.route("**/api/v1/transfers/*", note_server_put)
    page.set_input_files("#archive", str(archive))
    page.fill("#command", "sh run.sh")
    page.click("#submit")
    try:
        page.wait_for_url(re.compile(r"/runs/wr_"), timeout=60_000)
    except Exception:
        raise AssertionError(f"no run page; the form says: {page.inner_text('main')}") from None
    run_id = page.url.rsplit("/", 1)[1]
    expect(page.locator("#status-badge")).to_have_text("succeeded", timeout=90_000)
    expect(page.locator("#log")).to_contain_text("blob.bin")
    context.close()

    assert sorted(part_puts) == [1, 2, 2, 3] and server_puts == []
    run = client_for(user).get(f"/api/v1/workspace-runs/{run_id}").json()
    assert run["archive"]["uploadMethod"] == "staged"
    assert files_under(s3_media) == []
