"""Test results from a run's artifacts: JUnit XML and TAP reports, summarised for the run page.

The reports are written by the user's command, so they are hostile input: XML is parsed with
defusedxml with DTDs refused outright (no entity expansion, no external entities, no network),
only reports up to MAX_REPORT_BYTES are read, and every text kept is cut to a bounded length.
What comes out is plain data; the template escapes it like any other user text."""

import re
from dataclasses import dataclass, field

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring
from django.core.cache import cache

from .blobs import storage

MAX_REPORT_BYTES = 8 * 1024 * 1024
MAX_REPORTS = 10
MAX_FAILURES = 50
MAX_MESSAGE = 2000
MAX_NAME = 300
CACHE_SECONDS = 24 * 3600


@dataclass
class Case:
    name: str
    status: str  # "failure" or "error" (JUnit's words; TAP's failures are "failure")
    message: str = ""
    detail: str = ""


@dataclass
class Report:
    path: str
    kind: str  # "junit" or "tap"
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    seconds: float | None = None
    failures: list[Case] = field(default_factory=list)
    more_failures: int = 0
    problem: str = ""  # why the report could not be read; then the counts mean nothing

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.errors + self.skipped

    @property
    def ok(self) -> bool:
        return not self.problem and self.failed == 0 and self.errors == 0

    def add_failure(self, case: Case) -> None:
        if len(self.failures) < MAX_FAILURES:
            self.failures.append(case)
        else:
            self.more_failures += 1


def _cut(text: str | None, limit: int = MAX_MESSAGE) -> str:
    text = (text or "").strip()
    return text if len(text) <= limit else text[:limit] + " …"


def report_kind(path: str, head: bytes) -> str | None:
    """Which parser fits an artifact, from its name and its first bytes."""
    name = path.lower()
    if name.endswith(".xml") and re.search(rb"<testsuites?[\s>/]", head):
        return "junit"
    if name.endswith((".tap", ".tap.txt")):
        return "tap"
    return None


# --- JUnit XML ------------------------------------------------------------------------------


def _float(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def parse_junit(path: str, data: bytes) -> Report:
    report = Report(path, "junit")
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        report.problem = "declares a DTD or entities, which are refused: not summarised"
        return report
    except (ParseError, ValueError) as exc:
        report.problem = f"not well-formed XML ({_cut(str(exc), 200)})"
        return report
    if root.tag not in ("testsuites", "testsuite"):
        report.problem = f"the root element is <{_cut(root.tag, 60)}>, not <testsuites>"
        return report
    report.seconds = _float(root.get("time"))
    for case in root.iter("testcase"):
        _junit_case(report, case)
    if report.seconds is None:
        times = [_float(s.get("time")) for s in root.iter("testsuite")]
        report.seconds = sum(t for t in times if t is not None) or None
    return report


def _junit_case(report: Report, case) -> None:
    parts = [case.get("classname") or "", case.get("name") or "(unnamed)"]
    name = _cut(" › ".join(p for p in parts if p), MAX_NAME)
    for child in case:
        if child.tag in ("failure", "error"):
            message = child.get("message") or child.get("type") or ""
            detail = child.text or ""
            if not message:
                message, detail = detail.strip().split("\n", 1)[0], detail
            if child.tag == "failure":
                report.failed += 1
            else:
                report.errors += 1
            report.add_failure(Case(name, child.tag, _cut(message, 500), _cut(detail)))
            return
        if child.tag == "skipped":
            report.skipped += 1
            return
    report.passed += 1


# --- TAP ------------------------------------------------------------------------------------

TAP_LINE = re.compile(r"^(not ok|ok)\b\s*(\d+)?\s*(?:-\s*)?([^#]*?)\s*(?:#\s*(.*))?$")


def parse_tap(path: str, text: str) -> Report:
    """Top-level test points (indented ones are subtests, counted by their parent); a YAML
    diagnostic block or `#` lines right after a `not ok` are its message."""
    report = Report(path, "tap")
    failing: Case | None = None
    diag: list[str] = []

    def close():
        if failing is not None:
            message, detail = _tap_message(diag)
            failing.message, failing.detail = message or failing.message, detail
            report.add_failure(failing)

    for line in text.splitlines():
        point = TAP_LINE.match(line)
        if point is None:
            if failing is not None and (line.startswith((" ", "\t", "#")) or not line.strip()):
                diag.append(line)
            elif line.startswith("Bail out!"):
                report.problem = _cut(line, 300)
            continue
        close()
        failing, diag = None, []
        verdict, number, desc, directive = point.groups()
        name = _cut(desc or f"test {number or '?'}", MAX_NAME)
        directive = (directive or "").strip()
        if directive.upper().startswith(("SKIP", "TODO")):
            report.skipped += 1
        elif verdict == "ok":
            report.passed += 1
        else:
            report.failed += 1
            failing = Case(name, "failure", "")
    close()
    return report


def _tap_message(lines: list[str]) -> tuple[str, str]:
    text = "\n".join(line.strip() for line in lines).strip()
    text = re.sub(r"^---\n|\n\.\.\.$", "", text)
    match = re.search(r"^(?:message|error):\s*['\"]?(.*?)['\"]?$", text, re.M)
    first = match.group(1) if match else text.lstrip("# ").split("\n", 1)[0]
    return _cut(first, 500), _cut(text)


# --- a run's reports ------------------------------------------------------------------------


def _read(artifact) -> bytes | None:
    if not artifact.file:  # removed by retention
        return None
    with storage().open(artifact.file, "rb") as fh:
        data = fh.read(MAX_REPORT_BYTES + 1)
    return None if len(data) > MAX_REPORT_BYTES else data


def report_for(artifact) -> Report | None:
    """The summary of one artifact if it is a test report; cached by content digest."""
    if not artifact.path.lower().endswith((".xml", ".tap", ".tap.txt")):
        return None
    key = f"crownest:testreport:v1:{artifact.sha256}:{artifact.path[-200:]}"
    cached = cache.get(key)
    if cached is not None:
        return cached or None  # False: looked at, not a report
    report = _parse_artifact(artifact)
    cache.set(key, report or False, CACHE_SECONDS)
    return report


def _parse_artifact(artifact) -> Report | None:
    if artifact.size_bytes > MAX_REPORT_BYTES:
        kind = "junit" if artifact.path.lower().endswith(".xml") else "tap"
        return Report(artifact.path, kind, problem="too large to summarise here; download it")
    data = _read(artifact)
    if data is None:
        return None
    kind = report_kind(artifact.path, data[:4096])
    if kind == "junit":
        return parse_junit(artifact.path, data)
    if kind == "tap":
        return parse_tap(artifact.path, data.decode("utf-8", "replace"))
    return None


def run_test_reports(artifacts) -> list[Report]:
    reports = []
    for artifact in artifacts:
        report = report_for(artifact)
        if report is not None:
            reports.append(report)
        if len(reports) >= MAX_REPORTS:
            break
    return reports


def totals(reports: list[Report]) -> dict:
    readable = [r for r in reports if not r.problem]
    return {
        "passed": sum(r.passed for r in readable),
        "failed": sum(r.failed + r.errors for r in readable),
        "skipped": sum(r.skipped for r in readable),
        "total": sum(r.total for r in readable),
        "ok": all(r.ok for r in readable) and bool(readable),
    }
