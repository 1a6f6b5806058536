"""The new-run form with an archive the service already has: it says "already uploaded" as soon
as the file is picked, sends no bytes, and the run runs on the stored archive."""

import re

import pytest
from playwright.sync_api import expect

from ..helpers import Runs, client_for, make_targz

pytestmark = [pytest.mark.browser, pytest.mark.docker]


def test_known_archive_is_not_uploaded_again(stack, django_user_model, new_page, tmp_path):
    user = django_user_model.objects.create_user("kim", password="pw-kim")
    data = make_targz({"run.sh": "echo from the stored archive\n"})
    first = Runs(client_for(user)).submit({"run.sh": "echo from the stored archive\n"})
    assert first["archive"]["sha256"]  # the same bytes, uploaded once through the API
    known, fresh = tmp_path / "known.tgz", tmp_path / "fresh.tgz"
    known.write_bytes(data)
    fresh.write_bytes(make_targz({"run.sh": "echo new\n"}))

    page = new_page(user, "pw-kim")
    sent = []
    page.on(
        "request",
        lambda r: sent.append(r.url) if re.search(r"/archive$|/transfers", r.url) else None,
    )
    page.goto("/runs/new")
    page.set_input_files("#archive", str(fresh))
    expect(page.locator("#new-run")).to_have_attribute("data-archive-known", "false")
    expect(page.locator("#archive-known")).to_be_hidden()
    page.set_input_files("#archive", str(known))
    expect(page.locator("#new-run")).to_have_attribute("data-archive-known", "true")
    expect(page.locator("#archive-known")).to_have_text(re.compile("already uploaded"))
    expect(page.locator("#submit")).to_contain_text("already uploaded")
    page.fill("#command", "sh run.sh")
    page.click("#submit")
    page.wait_for_url(re.compile(r"/runs/wr_"))
    run_id = page.url.rsplit("/", 1)[1]
    assert run_id != first["id"]
    expect(page.locator("#log")).to_contain_text("from the stored archive", timeout=60_000)
    expect(page.locator("#status-badge")).to_have_text("succeeded", timeout=60_000)
    assert sent == []  # no upload request of any kind
    run = Runs(client_for(user)).get(run_id)
    assert run["archive"]["uploadMethod"] == "reused"
    assert run["archive"]["sha256"] == first["archive"]["sha256"]
