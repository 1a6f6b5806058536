"""Bad input at the edges, through the API: every family of hostile or broken request gets a 400
`invalid_request` that names the field and says what it needs, and nothing of it reaches the
database (no run, no event) or, therefore, a sandbox."""

import io
import json

import pytest
from django.conf import settings

from runs.errors import InvalidRequest
from runs.http.parsers import BoundedJSONParser
from runs.models import Run, RunEvent, Team

from .helpers import archive_meta, error_of, make_targz

pytestmark = pytest.mark.django_db

GOOD = make_targz({"a.txt": "a"})
URL = "/api/v1/workspace-runs"


def body(**change) -> dict:
    data = {"template": "python-node", "command": "true", "archive": archive_meta(GOOD)}
    data.update(change)
    return data


def refused(resp, field: str, *words: str) -> dict:
    """The answer is 400 invalid_request naming `field`, and its text says `words`."""
    assert resp.status_code == 400, resp.content[:500]
    err = error_of(resp)
    assert err["code"] == "invalid_request", err
    fields = err["details"]["fields"]
    names = [n for n in fields if n == field or n.startswith((field + ".", field + "["))]
    assert names, err
    text = " ".join(str(m) for n in names for m in fields[n]).lower()
    for word in words:
        assert word.lower() in text, (word, fields)
    assert field.split(".")[0] in err["message"] or field == "body", err["message"]
    return err


@pytest.fixture
def nothing_stored():
    """Whatever a test sends, no run, event or team is written."""
    before = (Run.objects.count(), RunEvent.objects.count(), Team.objects.count())
    yield
    assert (Run.objects.count(), RunEvent.objects.count(), Team.objects.count()) == before


def post(api, data):
    return api.post(URL, data, format="json")


def post_raw(api, raw: bytes):
    return api.generic("POST", URL, raw, content_type="application/json")


LIMIT = settings.CROWNEST_MAX_COMMAND_BYTES


@pytest.mark.parametrize(
    "command, words",
    [
        ("", ["empty"]),
        ("   ", ["empty"]),
        ([], ["non-empty list"]),
        ([""], ["program name"]),
        (["echo", 5], ["list of strings"]),
        ({"sh": "-c"}, ["string or a non-empty list"]),
        (42, ["string or a non-empty list"]),
        (None, ["null"]),
        ("echo \x00hidden", ["nul"]),
        (["echo", "a\x00b"], ["nul"]),
        ("x" * (LIMIT + 1), [f"{LIMIT} bytes"]),
        ("é" * (LIMIT // 2 + 1), [f"{LIMIT} bytes"]),  # bytes, not characters
        (["x"] * (LIMIT // 2 + 1), ["in all"]),  # many small arguments add up
    ],
)
def test_command(api, nothing_stored, command, words):
    refused(post(api, body(command=command)), "command", *words)


def test_command_with_a_lone_surrogate(api, nothing_stored):
    raw = json.dumps(body(command="X")).replace('"X"', '"echo \\ud800"').encode()
    refused(post_raw(api, raw), "body", "lone surrogate")


def test_command_at_its_limit_is_accepted(api):
    resp = post(api, body(command=["x" * (LIMIT - 2)]))  # one NUL terminator: LIMIT - 1
    assert resp.status_code == 201, resp.content[:300]


ENV_LIMIT = settings.CROWNEST_MAX_ENV_BYTES


@pytest.mark.parametrize(
    "env, words",
    [
        ({"1BAD": "x"}, ["not a valid variable name"]),
        ({"A-B": "x"}, ["not a valid variable name"]),
        ({"": "x"}, ["not a valid variable name"]),
        ({"A=B": "x"}, ["not a valid variable name"]),
        ({"A\x00B": "x"}, ["not a valid variable name"]),
        ({"X" * 129: "x"}, ["not a valid variable name"]),
        ({"OK": "a\x00b"}, ["null characters"]),
        ({"OK": 5}, ["not a valid string"]),
        ({"OK": None}, ["may not be null"]),
        ({"OK": ["a"]}, ["not a valid string"]),
        ({"OK": "x" * (32 * 1024 + 1)}, ["32768 bytes"]),
        ({f"V{i}": "x" for i in range(settings.CROWNEST_MAX_ENV + 1)}, ["at most"]),
        ({f"V{i}": "x" * 30000 for i in range(3)}, [f"{ENV_LIMIT} bytes in all"]),
        (["A=B"], ["dictionary"]),
        ("A=B", ["dictionary"]),
    ],
)
def test_env(api, nothing_stored, env, words):
    refused(post(api, body(env=env)), "env", *words)


def test_env_value_with_a_lone_surrogate(api, nothing_stored):
    raw = json.dumps(body(env={"OK": "X"})).replace('"X"', '"\\udfff"').encode()
    refused(post_raw(api, raw), "body", "lone surrogate")


def test_env_at_its_limit_is_accepted(api):
    env = {"BIG": "x" * (32 * 1024), "MORE": "y" * (ENV_LIMIT - 32 * 1024 - 3 - 2 - 4 - 2)}
    resp = post(api, body(env=env))
    assert resp.status_code == 201, resp.content[:300]
    assert resp.json()["env"] == env


@pytest.mark.parametrize(
    "paths, words",
    [
        (["../up"], ["relative path inside /workspace"]),
        (["dist/../../etc"], ["relative path inside /workspace"]),
        (["a/.."], ["relative path inside /workspace"]),
        (["..\\..\\etc"], ["relative path inside /workspace"]),
        (["/etc/passwd"], ["relative path inside /workspace"]),
        (["//host/share"], ["relative path inside /workspace"]),
        ([""], ["blank"]),
        (["  "], ["relative path"]),
        (["dist/\x00.txt"], ["null characters"]),
        (["x" * 1025], ["1024 characters"]),
        ([5], ["not a valid string"]),
        ("dist/", ["list"]),
        ([f"reports/{i}/*.xml" for i in range(10_000)], ["no more than 50"]),
    ],
)
def test_artifact_paths(api, nothing_stored, paths, words):
    refused(post(api, body(artifactPaths=paths)), "artifactPaths", *words)


@pytest.mark.parametrize(
    "timeout, words",
    [
        (0, ["greater than or equal to 1"]),
        (-1, ["greater than or equal to 1"]),
        (-(2**63), ["greater than or equal to 1"]),
        (
            settings.CROWNEST_MAX_TIMEOUT + 1,
            [f"less than or equal to {settings.CROWNEST_MAX_TIMEOUT}"],
        ),
        (10**30, ["less than or equal to"]),
        (1.5, ["valid integer"]),
        ("600", ["valid integer"]),  # a JSON number, not a string of digits
        ("9" * 2000, ["valid integer"]),
        (True, ["valid integer"]),
        (None, ["null"]),
    ],
)
def test_timeout(api, nothing_stored, timeout, words):
    refused(post(api, body(timeoutSeconds=timeout)), "timeoutSeconds", *words)


def test_timeout_bounds_are_accepted(api):
    for timeout in (1, settings.CROWNEST_MAX_TIMEOUT):
        resp = post(api, body(timeoutSeconds=timeout))
        assert resp.status_code == 201 and resp.json()["timeoutSeconds"] == timeout


@pytest.fixture
def foreign_team():
    return Team.objects.create(slug="not-mine", name="Someone else's")


@pytest.mark.parametrize(
    "team, words",
    [
        ("", ["blank"]),
        ("platform\x00", ["null characters"]),
        ("t" * 51, ["50 characters"]),
        ("t" * 100_000, ["50 characters"]),
        (7, ["valid"]),
        (["platform"], ["valid"]),
        # Well-formed names are looked up among the caller's teams, and are no team of theirs.
        ("has space", ["not a team you belong to"]),
        ("../platform", ["not a team you belong to"]),
        ("équipe", ["not a team you belong to"]),
        ("not-mine", ["not a team you belong to"]),
    ],
)
def test_team(api, foreign_team, nothing_stored, team, words):
    refused(post(api, body(team=team)), "team", *words)


def test_json_body_of_10_mb_is_refused_with_the_limit(api, nothing_stored):
    raw = json.dumps(body(command="echo " + "x" * (10 * 1024 * 1024))).encode()
    err = refused(post_raw(api, raw), "body", "limit")
    assert err["details"]["limitBytes"] == settings.CROWNEST_MAX_JSON_BODY
    assert str(len(raw)) in err["message"] and "staged transfer" in err["message"]


def test_json_body_just_under_the_limit_is_read(api):
    padding = "x" * (settings.CROWNEST_MAX_JSON_BODY - 1000)
    raw = json.dumps(body(padding=padding)).encode()  # an unknown field, ignored
    assert len(raw) < settings.CROWNEST_MAX_JSON_BODY
    assert post_raw(api, raw).status_code == 201


def test_json_limit_is_a_setting(api, settings, nothing_stored):
    settings.CROWNEST_MAX_JSON_BODY = 100
    err = refused(post(api, body()), "body", "100 bytes")
    assert err["details"]["limitBytes"] == 100


class CountingStream(io.BytesIO):
    def __init__(self, data):
        super().__init__(data)
        self.taken = 0

    def read(self, size=-1):
        piece = super().read(size)
        self.taken += len(piece)
        return piece


class FakeRequest:
    def __init__(self, length):
        self.META = {"CONTENT_LENGTH": length} if length is not None else {}


def test_big_body_is_refused_on_its_header_before_a_byte_is_read():
    stream = CountingStream(b"[" * (10 * 1024 * 1024))
    context = {"request": FakeRequest(str(10 * 1024 * 1024))}
    with pytest.raises(InvalidRequest) as info:
        BoundedJSONParser().parse(stream, "application/json", context)
    assert stream.taken == 0
    assert info.value.details["limitBytes"] == settings.CROWNEST_MAX_JSON_BODY


def test_big_body_without_a_length_is_read_only_up_to_the_limit():
    stream = CountingStream(b" " * (10 * 1024 * 1024))
    with pytest.raises(InvalidRequest):
        BoundedJSONParser().parse(stream, "application/json", {"request": FakeRequest(None)})
    assert stream.taken == settings.CROWNEST_MAX_JSON_BODY + 1


@pytest.mark.parametrize(
    "raw, words",
    [
        (b"[" * 200_000 + b"]" * 200_000, ["nests too deeply"]),
        (b'{"timeoutSeconds": NaN}', ["not json compliant"]),
        (b'{"command": "true",', ["json parse error"]),
        (b"\xff\xfe{}", ["not valid utf-8"]),
        (b"[]", ["expected a dictionary"]),
        (b'"just a string"', ["expected a dictionary"]),
    ],
)
def test_malformed_json(api, nothing_stored, raw, words):
    resp = post_raw(api, raw)
    assert resp.status_code == 400, resp.content[:300]
    err = error_of(resp)
    assert err["code"] == "invalid_request"
    text = json.dumps(err["details"]).lower()
    assert all(w in text for w in words), err


@pytest.mark.node
@pytest.mark.parametrize("text", ["\x85", " \x1c", "\u2028", "\ufeff", "\t", " a", "\x85b"])
def test_blank_means_the_same_to_the_schema_and_to_the_server(api, client, text):
    """JSON Schema's `\\s` and Python's str.strip() disagree on some characters (\\x85, \\x1c,
    \\ufeff): a path or command the documented pattern allows must be accepted, one it refuses
    must be refused. Patterns are ECMAScript regular expressions: node judges them."""
    schema = client.get("/api/v1/schema/", {"format": "json"}).json()
    create = schema["components"]["schemas"]["RunCreate"]["properties"]
    path_pattern = create["artifactPaths"]["items"]["pattern"]
    command_pattern = schema["components"]["schemas"]["Command"]["oneOf"][0]["pattern"]
    for field, pattern in (("artifactPaths", path_pattern), ("command", command_pattern)):
        allowed = ecmascript_match(pattern, text)
        value = [text] if field == "artifactPaths" else text
        resp = api.post(URL, body(**{field: value, "reuseArchive": False}), format="json")
        assert (resp.status_code == 201) == allowed, (field, text, resp.content[:300])


def ecmascript_match(pattern: str, text: str) -> bool:
    import subprocess

    script = "const [p, t] = JSON.parse(process.argv[1]); console.log(new RegExp(p, 'u').test(t))"
    out = subprocess.run(
        ["node", "-e", script, json.dumps([pattern, text])],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip() == "true"
