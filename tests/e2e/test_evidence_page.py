"""The run page checks the signed attestation in the browser (WebCrypto) and offers downloads."""

import json

import pytest
from playwright.sync_api import expect

from evidence.models import Attestation

from ..helpers import Runs, client_for

pytestmark = [pytest.mark.browser, pytest.mark.docker]


def test_run_page_verifies_the_attestation_and_notices_a_forgery(
    stack, django_user_model, new_page, shot
):
    user = django_user_model.objects.create_user("vera", password="pw-vera")
    runs = Runs(client_for(user))
    run = runs.submit(
        {"a.txt": "a"}, command="mkdir -p d && cp a.txt d/ && echo ok", artifactPaths=["d/"]
    )
    runs.wait(run["id"])
    runs.wait_evidence(run["id"])
    page = new_page(user, "pw-vera")
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"/runs/{run['id']}")
    status = page.locator("#verify-status")
    expect(status).to_have_class("verify verified")
    expect(status).to_contain_text("— verified")
    shot(page, "run-evidence-verified")
    with page.expect_download() as download:
        page.click("text=attestation (DSSE)")
    signed = json.loads(open(download.value.path()).read())
    assert signed["payloadType"] == "application/vnd.in-toto+json"
    assert download.value.suggested_filename == f"{run['id']}.dsse.json"
    with page.expect_download() as events:
        page.click("text=event log (ndjson)")
    assert events.value.suggested_filename == f"{run['id']}-events.ndjson"
    assert errors == []

    # The stored attestation is swapped for one whose outcome says failed: the page says so.
    row = Attestation.objects.get(bundle__run_id=run["id"])
    envelope = json.loads(row.envelope)
    envelope["signatures"][0]["sig"] = envelope["signatures"][0]["sig"][:-8] + "AAAAAAA="
    Attestation.objects.filter(pk=row.pk).update(envelope=json.dumps(envelope))
    page.reload()
    expect(status).to_have_class("verify failed")
    expect(status).to_contain_text("Not verified")
    shot(page, "run-evidence-forged")
