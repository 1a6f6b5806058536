"""The run page's archive line (static/js/run_progress.js, with api.js's byte formatter), run
in node: the extraction summary names the size that landed in /workspace (the archive
unpacked) and the compressed size as such; rates only over a measurable time; binary units."""

import json
import subprocess

from .helpers import ROOT

HARNESS = r"""
const fs = require("fs"), vm = require("vm");
const window = {};
vm.createContext(window);
window.window = window;
for (const f of ["static/js/api.js", "static/js/run_progress.js"]) {
  vm.runInContext(fs.readFileSync(f, "utf8"), window);
}
const el = () => ({ textContent: "", value: 0 });
function page(dataset, events) {
  const parts = { "#ap-phase": el(), "#ap-text": el(), "#ap-bar": el() };
  const box = {
    dataset, hidden: true, classList: { add() {}, remove() {} }, querySelector: (s) => parts[s],
  };
  const progress = new window.CrowNestArchiveProgress(box);
  const lines = events.map((e) => { progress.update(e); return parts["#ap-text"].textContent; });
  progress.finish();
  const text = (s) => parts[s].textContent;
  return { lines, phase: text("#ap-phase"), summary: text("#ap-text"), hidden: box.hidden };
}
const cases = JSON.parse(process.argv[1]);
console.log(JSON.stringify(cases.map(([dataset, events]) => page(dataset, events))));
"""

MIB = 1024 * 1024
COMPRESSED = int(40.4 * MIB)
EXPANDED = 204 * MIB


def event(phase, done, second, **data):
    data = {"phase": phase, "bytesDone": done, "bytesTotal": COMPRESSED, **data}
    return {
        "type": "archive_progress",
        "timestamp": f"2026-05-01T12:00:{second:06.3f}Z",
        "data": data,
    }


def run_page(*cases):
    out = subprocess.run(
        ["node", "-e", HARNESS, json.dumps(cases)], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_the_extraction_summary_says_the_unpacked_size_and_names_the_compressed_one():
    verify = [event("verify", COMPRESSED, 1.0, filesDone=18015)]
    extract = [
        event("extract", COMPRESSED // 2, 2.0, filesDone=9000, expandedBytes=EXPANDED),
        event("extract", COMPRESSED, 3.5, filesDone=18015, expandedBytes=EXPANDED),
    ]
    old_events = [{**e, "data": {k: v for k, v in e["data"].items() if k != "expandedBytes"}}
                  for e in extract]  # fmt: skip
    live, old_run, unknown = run_page(
        [{"files": ""}, verify + extract],
        [{"files": "18015", "expanded": str(EXPANDED)}, old_events],  # the page knows it
        [{}, old_events],
    )
    assert live["phase"] == "Archive extracted" and live["hidden"] is False
    assert live["summary"] == "18,015 files, 204 MiB (40.4 MiB compressed) in 1.5s"
    assert old_run["summary"] == live["summary"]
    assert unknown["summary"] == "18,015 files, 40.4 MiB compressed in 1.5s"
    # While it runs: the compressed bytes said as such, files of the total, the measured rate.
    assert live["lines"][1] == "20.2 MiB of 40.4 MiB compressed · 50% · 9,000 of 18,015 files"
    assert live["lines"][2] == (
        "40.4 MiB of 40.4 MiB compressed · 100% · 18,015 of 18,015 files · 13.5 MiB/s"
    )


def test_a_step_too_short_to_measure_shows_no_rate():
    (page,) = run_page(
        [{}, [event("verify", COMPRESSED // 4, 1.0), event("verify", COMPRESSED, 1.005)]]
    )
    assert page["lines"] == ["10.1 MiB of 40.4 MiB · 25%", "40.4 MiB of 40.4 MiB · 100%"]
    assert page["hidden"] is True  # no extraction: no summary, the box goes
