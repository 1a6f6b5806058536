"""Each answer declared once: the output serializers build what the server sends and the schema
is generated from them; every error code is one row of the error table, which both the answers
and the schema's words come from; the query rules the schema states are the server's."""

import inspect

import jsonschema
import pytest

import evidence.errors
import runs.errors
from runs.http.error_table import TABLE, status_and_code
from runs.models import RunEvent
from runs.stream import events
from runs.stream.events import event_json

from .helpers import archive_meta, error_of, make_targz

pytestmark = pytest.mark.django_db
GOOD = make_targz({"x.txt": "x"})


@pytest.fixture
def schema(api):
    return api.get("/api/v1/schema/", {"format": "json"}).json()


def test_list_events_sends_the_bytes_the_stream_sends(api, runs):
    """listEvents embeds each event exactly as SSE and the websocket frame it: non-ASCII raw,
    U+2028 not escaped, numbers as stored."""
    run = runs.create(GOOD)
    text = 'é ✓ 😀 \u2028\u2029 "q" \\ \t\n'
    events.append(run["id"], [("stdout", {"text": text}), ("heartbeat", {"elapsedSeconds": 1.0})])
    stored = RunEvent.objects.filter(run_id=run["id"]).order_by("seq")
    resp = api.get(f"/api/v1/workspace-runs/{run['id']}/events", {"limit": 2, "afterSeq": 0})
    assert resp["Content-Type"] == "application/json"
    page = resp.content.decode()
    listed = ",".join(event_json(e) for e in stored[:2])
    assert page == (f'{{"events":[{listed}],"nextAfterSeq":2,"hasMore":true,"terminal":false}}')
    assert resp.json()["events"][1]["data"]["text"] == text


@pytest.mark.parametrize("name", ["status", "team", "template", "owner"])
def test_an_empty_list_filter_is_no_filter_in_the_schema_and_the_server(schema, api, runs, name):
    [param] = [
        p
        for p in schema["paths"]["/api/v1/workspace-runs"]["get"]["parameters"]
        if p["name"] == name
    ]
    jsonschema.validate("", param["schema"])  # the schema allows it...
    runs.create(GOOD)
    resp = api.get("/api/v1/workspace-runs", {name: ""})
    assert resp.status_code == 200 and resp.json()["count"] == 1  # ...and it filters nothing


def test_an_unknown_template_is_documented_as_not_found(schema, api):
    create = schema["paths"]["/api/v1/workspace-runs"]["post"]["responses"]
    assert "`not_found`" in create["404"]["description"]
    body = {"template": "no-such-template", "command": "true", "archive": archive_meta(GOOD)}
    resp = api.post("/api/v1/workspace-runs", body, format="json")
    assert resp.status_code == 404 and error_of(resp)["code"] == "not_found"


def domain_errors():
    for module in (runs.errors, evidence.errors):
        for _, cls in inspect.getmembers(module, inspect.isclass):
            # The leaves: a base (DomainError, ArchiveError) is only ever raised as a subclass.
            if issubclass(cls, runs.errors.DomainError) and not cls.__subclasses__():
                yield cls


def test_every_domain_error_has_one_row_and_every_code_one_status():
    codes = [row.code for row in TABLE]
    assert len(codes) == len(set(codes))
    for cls in domain_errors():
        exc = cls.__new__(cls)  # only its class matters to the table
        assert status_and_code(exc) != (400, "bad_request"), cls


def test_the_schema_words_each_code_as_the_table_does(schema):
    when = {row.code: row.when for row in TABLE}
    described = [r["description"] for r in schema["components"]["responses"].values()]
    for item in schema["paths"].values():
        for operation in item.values():
            for response in operation["responses"].values():
                if "$ref" not in response and response.get("description", "").startswith("`"):
                    described.append(response["description"])
    assert described
    for text in described:
        for part in text.split("; `"):
            code, words = part.lstrip("`").split("`: ", 1)
            assert words == when[code], code


def test_rules_across_fields_and_closed_bodies_are_in_the_schema(schema, api, runs):
    """What the server refuses, the schema refuses too: replayOf only with network "replay"
    (and then required), and the rerun body's unknown fields and non-object bodies."""
    shapes = schema["components"]["schemas"]
    create = shapes["RunCreate"]
    rule = {key: create[key] for key in ("if", "then", "else")}
    valid = jsonschema.Draft202012Validator(rule).is_valid
    assert valid({"network": "replay", "replayOf": "wr_x"}) and valid({"network": "none"})
    assert not valid({"network": "none", "replayOf": "wr_x"}) and not valid({"replayOf": "wr_x"})
    assert not valid({"network": "replay"}) and not valid({"network": "replay", "replayOf": None})
    body = {"template": "python-node", "command": "true", "archive": archive_meta(GOOD)}
    resp = api.post("/api/v1/workspace-runs", {**body, "replayOf": "wr_x"}, format="json")
    assert resp.status_code == 400 and "replayOf" in error_of(resp)["details"]["fields"]

    assert shapes["RunRerun"]["additionalProperties"] is False
    assert shapes["TemplateIn"]["additionalProperties"] is False
    run = runs.create(GOOD)
    rerun = f"/api/v1/workspace-runs/{run['id']}/rerun"
    for sent in ([None, None], {"netwrok": "none"}, "none"):
        resp = api.post(rerun, sent, format="json")
        assert resp.status_code == 400 and error_of(resp)["code"] == "invalid_request", sent
