"""The network of a run through the API, without Docker: a template's egressAllow (staff-set,
validated strictly, versioned), the modes a new run or a rerun asks for and the sentences that
refuse the bad combinations, and what the run object says. The proxy itself: test_egress.py."""

from pathlib import Path

import pytest
from django.utils import timezone

from runs.egress.models import RunNetwork
from runs.models import Run, TemplateVersion

from .helpers import archive_meta, client_for, error_of, make_targz

pytestmark = pytest.mark.django_db
DATA = make_targz({"a.py": "print(1)\n"})
ALLOW = ["pypi.org", "files.pythonhosted.org", "*.npmjs.org", "10.0.0.5:3141"]


@pytest.fixture
def staff(django_user_model):
    return client_for(django_user_model.objects.create_user("root", is_staff=True))


@pytest.fixture
def egress_on(settings):
    settings.CROWNEST_EGRESS_ENABLED = True


def allowing(hosts: list[str]) -> None:
    """python-node's current version allows `hosts` (as a rebuilt recipe would)."""
    version = TemplateVersion.objects.filter(template_id="python-node").order_by("-number")[0]
    TemplateVersion.objects.filter(pk=version.pk).update(
        recipe={**version.recipe, "egressAllow": hosts}
    )


def new_run(api, **fields):
    body = {"template": "python-node", "command": "true", "archive": archive_meta(DATA), **fields}
    return api.post("/api/v1/workspace-runs", {**body, "reuseArchive": False}, format="json")


def test_staff_set_egress_allow_and_it_is_validated_and_shown(staff, api):
    resp = staff.patch("/api/v1/templates/python-node", {"egressAllow": ALLOW}, format="json")
    assert resp.status_code == 200, resp.content
    assert api.get("/api/v1/templates/python-node").json()["egressAllow"] == ALLOW
    newest = TemplateVersion.objects.filter(template_id="python-node").order_by("-number")[0]
    assert newest.recipe["egressAllow"] == ALLOW  # versioned with the rest of the recipe
    for bad in (["*"], ["https://pypi.org"], ["*.com"], ["pypi.org:0"], "pypi.org"):
        resp = staff.patch("/api/v1/templates/python-node", {"egressAllow": bad}, format="json")
        assert resp.status_code == 400, bad
        assert "egressAllow" in error_of(resp)["details"]["fields"]
    assert api.patch(
        "/api/v1/templates/python-node", {"egressAllow": ALLOW}, format="json"
    ).status_code in (403, 404)


def test_no_network_is_the_default_and_says_so(api):
    run = new_run(api).json()
    assert run["network"] == {
        "mode": "none", "replayOf": None, "allow": [], "requests": 0, "refused": 0, "bytes": 0,
    }  # fmt: skip
    assert not RunNetwork.objects.exists()


def test_an_allowlist_run_pins_its_templates_list(api, egress_on):
    allowing(ALLOW)
    resp = new_run(api, network="allowlist")
    assert resp.status_code == 201, resp.content
    assert resp.json()["network"]["mode"] == "allowlist"
    assert resp.json()["network"]["allow"] == ALLOW
    allowing(["other.example"])  # a later recipe does not change what the run pinned
    assert (
        api.get(f"/api/v1/workspace-runs/{resp.json()['id']}").json()["network"]["allow"] == ALLOW
    )


def test_bad_combinations_answer_with_a_sentence(api, other_api, egress_on, settings):
    allowing([])
    resp = new_run(api, network="allowlist")
    assert resp.status_code == 400 and "allows no host" in error_of(resp)["message"]
    assert new_run(api, network="replay").status_code == 400  # replayOf missing
    assert new_run(api, replayOf="wr_x").status_code == 400  # replayOf without replay
    assert new_run(api, network="sometimes").status_code == 400

    mine = new_run(api).json()["id"]
    theirs = new_run(other_api).json()["id"]
    resp = new_run(api, network="replay", replayOf=theirs)
    assert resp.status_code == 404, resp.content
    resp = new_run(api, network="replay", replayOf=mine)
    assert resp.status_code == 409 and "used no network" in error_of(resp)["message"]

    allowing(ALLOW)
    recording = new_run(api, network="allowlist").json()["id"]
    resp = new_run(api, network="replay", replayOf=recording)
    assert resp.status_code == 409 and "recorded when it ends" in error_of(resp)["message"]
    RunNetwork.objects.filter(run_id=recording).update(recorded_at=timezone.now())
    resp = new_run(api, network="replay", replayOf=recording)
    assert resp.status_code == 201 and resp.json()["network"]["replayOf"] == recording
    RunNetwork.objects.filter(run_id=recording).update(bodies_expired_at=timezone.now())
    resp = new_run(api, network="replay", replayOf=recording)
    assert resp.status_code == 409 and "expired" in error_of(resp)["message"]

    settings.CROWNEST_EGRESS_ENABLED = False
    resp = new_run(api, network="allowlist")
    assert resp.status_code == 409 and "CROWNEST_EGRESS_ENABLED" in error_of(resp)["message"]


def test_a_rerun_keeps_the_mode_or_replays_the_original(api, egress_on):
    allowing(ALLOW)
    original = new_run(api, network="allowlist").json()["id"]
    Run.objects.filter(pk=original).update(status="succeeded")
    RunNetwork.objects.filter(run_id=original).update(recorded_at=timezone.now())
    again = api.post(f"/api/v1/workspace-runs/{original}/rerun").json()
    assert again["network"]["mode"] == "allowlist" and again["network"]["allow"] == ALLOW
    resp = api.post(
        f"/api/v1/workspace-runs/{original}/rerun", {"network": "replay"}, format="json"
    )
    assert resp.status_code == 201, resp.content
    assert resp.json()["network"] == {
        **resp.json()["network"],
        "mode": "replay",
        "replayOf": original,
    }
    assert (
        api.post(
            f"/api/v1/workspace-runs/{original}/rerun", {"network": "x"}, format="json"
        ).status_code
        == 400
    )


def test_the_network_log_pages_and_exports_the_digested_bytes(api, other_api, egress_on):
    import hashlib

    from runs.egress.models import NetworkRequest
    from runs.egress.store import log_store

    allowing(ALLOW)
    run_id = new_run(api, network="allowlist").json()["id"]
    for seq in range(1, 6):
        NetworkRequest.objects.create(
            run_id=run_id, seq=seq, method="GET", url=f"https://pypi.org/simple/p{seq}/",
            host="pypi.org", status=200 if seq != 3 else None, size_bytes=10 * seq,
            sha256=f"{seq:064x}" if seq != 3 else "", decision="refused" if seq == 3 else "allowed",
            reason="method POST is not allowed" if seq == 3 else "",
        )  # fmt: skip
    network = log_store(run_id, Path("/nonexistent"))
    assert (network.requests, network.refused, network.bytes) == (5, 1, 120)
    page = api.get(f"/api/v1/workspace-runs/{run_id}/network", {"pageSize": 2}).json()
    assert page["count"] == 5 and [r["seq"] for r in page["results"]] == [1, 2]
    assert page["results"][0] == {
        "seq": 1, "method": "GET", "url": "https://pypi.org/simple/p1/", "status": 200,
        "bytes": 10, "sha256": f"{1:064x}", "contentType": "", "durationMs": 0,
        "decision": "allowed", "reason": "",
    }  # fmt: skip
    assert other_api.get(f"/api/v1/workspace-runs/{run_id}/network").status_code == 404
    resp = api.get(f"/api/v1/workspace-runs/{run_id}/network.ndjson")
    assert resp.status_code == 409 and error_of(resp)["code"] == "evidence_not_ready"
    Run.objects.filter(pk=run_id).update(status="succeeded", terminal_seq=1)
    resp = api.get(f"/api/v1/workspace-runs/{run_id}/network.ndjson")
    body = b"".join(resp.streaming_content)
    assert hashlib.sha256(body).hexdigest() == network.log_sha256
    assert len(body.splitlines()) == 5


def test_the_run_page_shows_the_network_refused_first_and_links_the_original(
    api, user, client, egress_on
):
    from runs.egress.models import NetworkRequest

    allowing(ALLOW)
    original = new_run(api, network="allowlist").json()["id"]
    RunNetwork.objects.filter(run_id=original).update(recorded_at=timezone.now(), requests=2)
    NetworkRequest.objects.create(
        run_id=original, seq=1, method="GET", url="https://pypi.org/simple/idna/",
        host="pypi.org", status=200, size_bytes=5, sha256="a" * 64, decision="allowed",
    )  # fmt: skip
    NetworkRequest.objects.create(
        run_id=original, seq=2, method="POST", url="https://pypi.org/upload/", host="pypi.org",
        decision="refused", reason="method POST is not allowed (only GET, HEAD)",
    )  # fmt: skip
    client.force_login(user)
    page = client.get(f"/runs/{original}").content.decode()
    assert 'id="network"' in page and "pypi.org" in page and "*.npmjs.org" in page
    assert page.index("POST /upload/") < page.index("GET /simple/idna/")  # refused first
    assert "method POST is not allowed" in page
    replay = new_run(api, network="replay", replayOf=original).json()["id"]
    page = client.get(f"/runs/{replay}").content.decode()
    assert f'href="/runs/{original}"' in page
    assert 'id="network"' not in client.get(f"/runs/{new_run(api).json()['id']}").content.decode()
