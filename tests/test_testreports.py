"""Test reports (JUnit XML, TAP) summarised for the run page: the counts, the failing tests and
their messages, and hostile reports that must come to no harm (entities, external entities,
malformed or huge files, markup in names)."""

import time

import pytest

from runs import testreports
from runs.models import Artifact, Run

from .helpers import Runs, client_for, make_targz, stored_artifact

JUNIT = b"""<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="1" skipped="1" tests="5" time="0.53">
<testcase classname="tests.test_math" name="test_add" time="0.001"/>
<testcase classname="tests.test_math" name="test_sub" time="0.001"/>
<testcase classname="tests.test_math" name="test_div" time="0.002"><failure
 message="ZeroDivisionError: division by zero">def test_div():
&gt;   1/0
E   ZeroDivisionError</failure></testcase>
<testcase classname="tests.test_math" name="test_later"><skipped message="not yet"/></testcase>
<testcase classname="tests.test_io" name="test_open"><error message="OSError: nope"/></testcase>
</testsuite></testsuites>"""

TAP = """TAP version 13
# Subtest: math
    ok 1 - inner
ok 1 - adds
not ok 2 - divides
  ---
  message: 'Expected 2 to equal 3'
  severity: fail
  ...
ok 3 - later # SKIP not yet
not ok 4 - bare
1..4
"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<testsuite><testcase name="&lol9;"><failure message="&lol9;"/></testcase></testsuite>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE t [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<testsuite><testcase name="x"><failure message="&secret;"/></testcase></testsuite>"""


def test_junit_counts_failures_and_messages():
    r = testreports.parse_junit("reports/junit.xml", JUNIT)
    assert (r.passed, r.failed, r.errors, r.skipped, r.total) == (2, 1, 1, 1, 5)
    assert r.seconds == 0.53 and not r.ok and not r.problem
    div, io_error = r.failures
    assert div.name == "tests.test_math › test_div" and div.status == "failure"
    assert div.message == "ZeroDivisionError: division by zero"
    assert ">   1/0" in div.detail
    assert (io_error.status, io_error.message) == ("error", "OSError: nope")


def test_junit_without_testsuites_and_with_message_only_in_text():
    data = (
        b'<testsuite><testcase name="t"><failure>AssertionError: 1 != 2\nmore</failure>'
        b"</testcase></testsuite>"
    )
    r = testreports.parse_junit("a.xml", data)
    assert r.failed == 1 and r.failures[0].message == "AssertionError: 1 != 2"


def test_tap_counts_top_level_points_and_reads_yaml_messages():
    r = testreports.parse_tap("t.tap", TAP)
    assert (r.passed, r.failed, r.skipped) == (1, 2, 1)
    assert [c.name for c in r.failures] == ["divides", "bare"]
    assert r.failures[0].message == "Expected 2 to equal 3"


@pytest.mark.parametrize("hostile", [BILLION_LAUGHS, XXE], ids=["entity-expansion", "xxe"])
def test_dtds_and_entities_are_refused_quickly(hostile):
    started = time.monotonic()
    r = testreports.parse_junit("evil.xml", hostile)
    assert time.monotonic() - started < 1
    assert r.problem.startswith("declares a DTD") and r.total == 0
    assert "root:" not in repr(r)  # nothing of /etc/passwd came in


def test_malformed_deep_and_foreign_xml_are_reported_not_raised():
    assert "not well-formed" in testreports.parse_junit("x.xml", b"<testsuite><testcase").problem
    deep = b"<testsuite>" + b"<a>" * 200_000 + b"</a>" * 200_000 + b"</testsuite>"
    assert testreports.parse_junit("x.xml", deep).total == 0
    assert "root element" in testreports.parse_junit("x.xml", b"<html><testcase/></html>").problem


def test_long_texts_are_cut():
    data = (
        b'<testsuite><testcase name="' + b"n" * 5000 + b'"><failure message="'
        + b"m" * 5000 + b'">' + b"d" * 50_000 + b"</failure></testcase></testsuite>"
    )  # fmt: skip
    case = testreports.parse_junit("x.xml", data).failures[0]
    assert len(case.name) < 400 and len(case.message) < 600 and len(case.detail) < 2100


def test_only_report_names_are_read():
    assert testreports.report_kind("dist/app.js", b"<testsuite>") is None
    assert testreports.report_kind("reports/junit.xml", b"<?xml?><testsuites>") == "junit"
    assert testreports.report_kind("reports/pom.xml", b"<project>") is None
    assert testreports.report_kind("out/results.tap", b"ok 1") == "tap"


# --- on the run page ------------------------------------------------------------------------


def add_artifact(run_id: str, path: str, data: bytes) -> Artifact:
    return stored_artifact(run_id, path, data, content_type="application/xml")


@pytest.fixture
def ended_run(user, db):
    runs = Runs(client_for(user))
    run = runs.create(make_targz({"a": "x"}))
    assert runs.cancel(run["id"]).status_code == 202
    return Run.objects.get(pk=run["id"])


def test_run_page_summarises_reports_and_escapes_them(client, user, ended_run):
    add_artifact(ended_run.id, "reports/junit.xml", JUNIT)
    add_artifact(ended_run.id, "reports/node.tap", TAP.encode())
    add_artifact(ended_run.id, "reports/evil.xml", BILLION_LAUGHS)
    hostile = (
        b'<testsuite><testcase name="&lt;script&gt;alert(1)&lt;/script&gt;">'
        b'<failure message="&lt;img src=x onerror=alert(2)&gt;"/></testcase></testsuite>'
    )
    add_artifact(ended_run.id, "reports/<b>x</b>.xml", hostile)
    add_artifact(ended_run.id, "dist/app.xml", b"<config/>")  # not a report
    client.force_login(user)
    page = client.get(f"/runs/{ended_run.id}").content.decode()
    assert 'id="test-results"' in page
    assert "tests.test_math › test_div" in page and "ZeroDivisionError: division by zero" in page
    assert "Expected 2 to equal 3" in page
    assert "declares a DTD or entities" in page
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page and "<b>x</b>" not in page
    assert "dist/app.xml" not in page.split('id="test-results"')[1].split("</section>")[0]
    # 2 + 1 (JUnit) + 1 (TAP) passed; 1 + 1 + 2 + 1 failed or errored.
    assert "3 passed" in page and "5 failed" in page
