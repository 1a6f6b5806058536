"""Adaptive flushing of a run's output: slow output goes out at once, a flood in batches, and
either way every byte is stored once, in order, with seqs 1..N."""

import threading

import pytest
from django.db import connections

from runs.models import Run, RunEvent
from runs.worker.command import CommandLoop
from runs.worker.sandbox.base import ExitInfo

from .helpers import make_targz, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


class ScriptedExecution:
    """A command's output as the sandbox hands it over: (stream, bytes) frames from a script
    that runs on the reader thread, as a real attach stream does."""

    def __init__(self, script):
        self.script = script

    def output(self):
        try:
            yield from self.script()
        finally:
            connections.close_all()  # this reader thread's own, opened by its waits

    def wait(self):
        return ExitInfo(exit_code=0, oom_killed=False)

    def stop(self, grace_seconds):
        pass


class ScriptedSandbox:
    def __init__(self, script):
        self.execution = ScriptedExecution(script)

    def execute(self, spec):
        return self.execution

    def kill(self, run_id):
        pass

    def disk_full(self, run_id):
        return False


def stored(run_id):
    return list(RunEvent.objects.filter(run_id=run_id).order_by("seq"))


def texts(events, stream):
    return "".join(e.data["text"] for e in events if e.type == stream)


def merged(pairs):
    """(stream, text) pairs with neighbours of one stream joined: how they read in order."""
    out = []
    for stream, text in pairs:
        if out and out[-1][0] == stream:
            out[-1][1] += text
        else:
            out.append([stream, text])
    return out


def test_a_flood_mixed_with_slow_output_is_stored_whole_and_in_order(runs):
    run = Run.objects.get(pk=runs.create(make_targz({"a": "b"}))["id"])
    Run.objects.filter(pk=run.pk).update(status=Run.Status.RUNNING)
    writes = []  # (stream, text) in the order the command wrote them

    def emit(stream, text):
        writes.append((stream, text))
        data = text.encode()
        # Frames cut anywhere, even inside a multi-byte character or a line.
        cut = len(data) // 3 or 1
        return [(stream, data[:cut]), (stream, data[cut:])] if len(data) > 1 else [(stream, data)]

    def slow_line(stream, text):
        """One line, then nothing more until it is stored: only a flush of its own, with no
        further output to push it, can store it."""
        yield from emit(stream, text)
        expected = "".join(t for s, t in writes if s == stream)
        wait_until(lambda: texts(stored(run.pk), stream) == expected, timeout=30, interval=0.01)

    def script():
        for burst in range(4):
            for i in range(3000):  # a flood, stdout and stderr interleaved
                yield from emit("stdout", f"b{burst} line {i} ünïcödé ✓\n")
                if i % 7 == 0:
                    yield from emit("stderr", f"b{burst} warn {i}\n")
            for i in range(5):
                yield from slow_line("stdout" if i % 2 else "stderr", f"b{burst} slow {i} ✓\n")
            yield from emit("stdout", f"b{burst} no newline yet ")  # a line left open

    loop = CommandLoop(ScriptedSandbox(script), spec=None, run=run)
    outcome = loop.run_to_end()
    assert outcome.status == Run.Status.SUCCEEDED
    events = stored(run.pk)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    output = [(e.type, e.data["text"]) for e in events if e.type in ("stdout", "stderr")]
    # Every byte of each stream, and the order between them, as written.
    assert merged(output) == merged(writes)
    # The flood was batched: each change of stream starts an event, but runs of writes to one
    # stream share them (two frames per write, thousands of writes a second, a few ms a flush).
    assert len(output) < len(writes) / 2, (len(output), len(writes))


def test_output_read_while_a_flush_is_in_flight_goes_out_in_the_next_one(runs):
    """The reader keeps reading while the loop commits: a flush never waits for output, and
    output never waits for more than the flush in flight."""
    run = Run.objects.get(pk=runs.create(make_targz({"a": "b"}))["id"])
    Run.objects.filter(pk=run.pk).update(status=Run.Status.RUNNING)
    first_stored = threading.Event()

    def script():
        yield ("stdout", b"first\n")
        # Everything below is produced while "first" may still be in flight; it must all be
        # stored, after "first", whatever the timing.
        for i in range(2000):
            yield ("stdout", f"more {i}\n".encode())
        wait_until(lambda: texts(stored(run.pk), "stdout").endswith("more 1999\n"), timeout=30)
        first_stored.set()
        yield ("stdout", b"last\n")

    CommandLoop(ScriptedSandbox(script), spec=None, run=run).run_to_end()
    assert first_stored.is_set()
    events = stored(run.pk)
    expected = "first\n" + "".join(f"more {i}\n" for i in range(2000)) + "last\n"
    assert texts(events, "stdout") == expected
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
