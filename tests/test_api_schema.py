"""The OpenAPI schema says what the server does (shapes, errors, security, streams), and the
query rules it states are the ones the server enforces. tests/test_schemathesis.py checks the
same against the live stack by fuzzing; these are the decisions spelled out, fast."""

import pytest

from .helpers import error_of, make_targz

pytestmark = pytest.mark.django_db
GOOD = make_targz({"x.txt": "x"})


@pytest.fixture
def schema(api):
    resp = api.get("/api/v1/schema/", {"format": "json"})
    assert resp.status_code == 200
    return resp.json()


def op(schema, path, method):
    return schema["paths"][f"/api/v1{path}" if not path.startswith("/healthz") else path][method]


def body_schema(schema, response, media="application/json"):
    node = response["content"][media]["schema"]
    ref = node.get("$ref") or node.get("items", {}).get("$ref", "")
    return node, schema["components"]["schemas"].get(ref.rsplit("/", 1)[-1])


def test_lists_have_their_real_shapes(schema):
    templates, item = body_schema(schema, op(schema, "/templates", "get")["responses"]["200"])
    assert templates["type"] == "array" and set(item["required"]) >= {"name", "imageDigest"}
    page, shape = body_schema(schema, op(schema, "/workspace-runs", "get")["responses"]["200"])
    assert set(shape["properties"]) == {"count", "page", "pageSize", "next", "previous", "results"}
    reviews = op(schema, "/workspace-runs/{run_id}/reviews", "get")["responses"]["200"]
    assert body_schema(schema, reviews)[0]["type"] == "array"


def test_bodies_and_streams_have_their_media_types(schema):
    download = op(schema, "/artifacts/{artifact_id}/download", "get")["responses"]["200"]
    assert list(download["content"]) == ["*/*"] and {"ETag", "Content-Disposition"} <= set(
        download["headers"]
    )
    stream = op(schema, "/workspace-runs/{run_id}/events/stream", "get")["responses"]["200"]
    assert list(stream["content"]) == ["text/event-stream"]
    event = schema["components"]["schemas"]["ServerSentEvent"]["properties"]["data"]
    assert event["contentSchema"] == {"$ref": "#/components/schemas/RunEvent"}
    ndjson = op(schema, "/workspace-runs/{run_id}/events.ndjson", "get")["responses"]["200"]
    assert list(ndjson["content"]) == ["application/x-ndjson"]
    upload = op(schema, "/workspace-runs/{run_id}/archive", "put")["requestBody"]["content"]
    assert upload["application/gzip"]["schema"]["format"] == "binary"
    assert upload["multipart/form-data"]["schema"]["required"] == ["archive"]
    chunk = op(schema, "/transfers/{transfer_id}", "put")
    [content_range] = [p for p in chunk["parameters"] if p["name"] == "Content-Range"]
    assert content_range["in"] == "header" and content_range["required"] is True


def test_every_operation_documents_its_errors_and_security(schema):
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert "cookieAuth" in schema["components"]["securitySchemes"]
    health = op(schema, "/healthz", "get")
    assert health["security"] == [] and set(health["responses"]) == {"200", "503"}
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if path == "/healthz":
                continue
            codes = set(operation["responses"])
            assert "401" in codes, (method, path)
            if "{" in path:
                assert "404" in codes, (method, path)
    upload = set(op(schema, "/workspace-runs/{run_id}/archive", "put")["responses"])
    assert {"400", "401", "404", "409", "413", "415", "422", "429"} <= upload
    assert {"409", "429"} <= set(op(schema, "/workspace-runs/{run_id}/start", "post")["responses"])
    review = op(schema, "/workspace-runs/{run_id}/reviews", "post")
    assert {"400", "403", "409"} <= set(review["responses"])


def test_each_event_type_has_its_own_data(schema):
    shapes = schema["components"]["schemas"]
    union = shapes["RunEvent"]
    assert set(union["discriminator"]["mapping"]) == {
        "status", "archive_progress", "stdout", "stderr", "artifact_collected",
        "artifact_error", "heartbeat", "error", "terminal",
    }  # fmt: skip
    terminal = shapes["TerminalEvent"]["properties"]["data"]["$ref"].rsplit("/", 1)[-1]
    assert set(shapes[terminal]["properties"]) == {
        "status",
        "exitCode",
        "failureReason",
        "durationSeconds",
        "artifactIds",
    }
    assert shapes["Run"]["additionalProperties"] is False  # closed: new fields need the schema


def test_create_run_refuses_in_the_schema_what_the_server_refuses(schema, api):
    create = schema["components"]["schemas"]["RunCreate"]
    assert create["properties"]["template"]["minLength"] == 1
    command = schema["components"]["schemas"]["Command"]
    assert "null" not in str(command) and {b["type"] for b in command["oneOf"]} == {
        "string",
        "array",
    }
    for body in ({"template": ""}, {"command": None}, {"command": ["", "x"]}):
        full = {"template": "python-node", "command": "true", "archive": archive(), **body}
        resp = api.post("/api/v1/workspace-runs", full, format="json")
        assert resp.status_code == 400, (body, resp.content)


def archive():
    import hashlib

    return {"sizeBytes": len(GOOD), "sha256": hashlib.sha256(GOOD).hexdigest()}


@pytest.mark.parametrize(
    "query, field",
    [
        ({"page": "abc"}, "page"),
        ({"page": "0"}, "page"),
        ({"page": "-1"}, "page"),
        ({"page": "99999999999"}, "page"),
        ({"pageSize": "abc"}, "pageSize"),
        ({"pageSize": "0"}, "pageSize"),
        ({"pageSize": "101"}, "pageSize"),
        ({"pageSize": ""}, "pageSize"),
        ({"status": "runing"}, "status"),
    ],
)
def test_bad_list_parameters_are_refused_in_the_envelope(api, query, field):
    resp = api.get("/api/v1/workspace-runs", query)
    assert resp.status_code == 400
    error = error_of(resp)
    assert error["code"] == "invalid_request" and field in error["details"]["fields"]
    assert field in error["message"]


def test_a_page_past_the_last_is_empty_and_links_walk_the_list(api, runs):
    for _ in range(3):
        runs.create(GOOD)
    first = api.get("/api/v1/workspace-runs", {"pageSize": 2}).json()
    assert first["count"] == 3 and len(first["results"]) == 2 and first["previous"] is None
    second = api.get(first["next"]).json()
    assert second["page"] == 2 and len(second["results"]) == 1 and second["next"] is None
    past = api.get("/api/v1/workspace-runs", {"page": 9, "pageSize": 2})
    assert past.status_code == 200
    assert past.json()["results"] == [] and past.json()["count"] == 3
    both = api.get("/api/v1/workspace-runs", {"status": "awaiting_archive,ready"}).json()
    assert both["count"] == 3


def test_event_and_stream_cursors_are_checked(api, runs):
    run = runs.create(GOOD)
    for query in ({"limit": "0"}, {"afterSeq": "abc"}, {"afterSeq": "1.0"}, {"limit": "1001"}):
        resp = api.get(f"/api/v1/workspace-runs/{run['id']}/events", query)
        assert resp.status_code == 400, query
    stream = f"/api/v1/workspace-runs/{run['id']}/events/stream"
    resp = api.get(stream, {"afterSeq": "x"}, HTTP_LAST_EVENT_ID="3")
    assert resp.status_code == 400 and "afterSeq" in error_of(resp)["details"]["fields"]
    resp = api.get(stream, HTTP_LAST_EVENT_ID="-1")
    assert "Last-Event-ID" in error_of(resp)["details"]["fields"]
    assert api.post(stream).status_code == 405


def test_refusals_say_what_happened_and_what_to_do(api, runs):
    run = runs.create(GOOD)
    resp = api.post(f"/api/v1/workspace-runs/{run['id']}/archive", GOOD, content_type="x/y")
    assert resp.status_code == 405 and resp["Allow"] == "PUT, OPTIONS"
    assert error_of(resp)["message"] == "POST is not allowed at this URL; it takes PUT, OPTIONS."
    assert runs.cancel(run["id"]).status_code == 202
    again = error_of(runs.cancel(run["id"]))
    assert (
        again["message"]
        == "Cannot cancel this run: it was canceled. There is nothing left to stop."
    )
    resp = api.post("/api/v1/workspace-runs", "x", content_type="text/plain")
    assert resp.status_code == 415 and "application/json" in error_of(resp)["message"]
    bad = error_of(api.post("/api/v1/workspace-runs", {"template": "nope"}, format="json"))
    assert bad["message"].startswith("The request was refused; archive: ")
