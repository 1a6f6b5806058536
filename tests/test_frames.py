"""The attach stream's split at the bootstrap's mark (runs/worker/sandbox/frames.py). Docker keeps
no order between stdout and stderr, so each stream carries its own mark and is split at it."""

import struct

from runs.worker.sandbox.frames import MARK, Extraction

STREAM = {"stdout": 1, "stderr": 2}


class FakeSocket:
    def __init__(self, frames):
        self.data = b"".join(
            bytes([STREAM[s], 0, 0, 0]) + struct.pack(">I", len(d)) + d for s, d in frames
        )

    def recv(self, n):
        piece, self.data = self.data[:n], self.data[n:]
        return piece


def split(frames):
    extraction = Extraction(FakeSocket(frames))
    marked = extraction.wait_for_mark()
    after = {"stdout": b"", "stderr": b""}
    for stream, data in extraction.output():
        after[stream] += data
    return marked, extraction, after


def test_the_commands_stderr_arriving_before_stdouts_mark_is_its_output():
    marked, extraction, after = split(
        [("stderr", MARK + b"err\n"), ("stdout", MARK), ("stdout", b"out\n")]
    )
    assert marked
    assert after == {"stdout": b"out\n", "stderr": b"err\n"}
    assert extraction.complaint() == ""


def test_marks_split_across_frames_and_extraction_messages_before_them():
    half = len(MARK) // 2
    marked, extraction, after = split(
        [
            ("stderr", b"tar: warning\n" + MARK[:half]),
            ("stdout", MARK[:3]),
            ("stderr", MARK[half:] + b"e1"),
            ("stdout", MARK[3:] + b"o1"),
            ("stderr", b"e2"),
        ]
    )
    assert marked
    assert after == {"stdout": b"o1", "stderr": b"e1e2"}
    assert extraction.complaint() == "tar: warning"


def test_a_failed_extraction_has_no_mark_and_its_complaint():
    marked, extraction, _ = split([("stderr", b"gzip: stdin: not in gzip format\n")])
    assert not marked
    assert extraction.complaint() == "gzip: stdin: not in gzip format"
