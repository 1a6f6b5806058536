"""A tiny build: writes a file to dist/ and a JUnit report to reports/."""

import pathlib
import platform
import sys

dist = pathlib.Path("dist")
reports = pathlib.Path("reports")
dist.mkdir(exist_ok=True)
reports.mkdir(exist_ok=True)
(dist / "greeting.txt").write_text("Hello from the sandbox!\n")
(reports / "junit.xml").write_text(
    '<?xml version="1.0"?>\n<testsuite name="hello" tests="2" failures="0">'
    '<testcase name="greets by name"/><testcase name="greets the world"/></testsuite>\n'
)
print(f"built with Python {platform.python_version()}")
print("a warning on stderr, as builds do", file=sys.stderr)
