"""The artifact collector's entry: the run's artifact paths, one after the other, into an
uncompressed tar on stdout and a JSON report {files, errors, timedOut} on stderr.

It runs as one script, python3 -I -c (host_collect.SCRIPT): collect_tree.py's text (how a path is
looked up in the workspace), then this file's, without the import line below. Standard library
only: it runs on the host's Python and on the template image's.

argv[1] is the JSON request {patterns, maxFileBytes, maxTotalBytes, maxFiles, maxEntries,
maxDepth, maxErrors, maxPathChars, seconds}. The workspace is the directory whose descriptor
CROWNEST_COLLECT_FD names, or /workspace when it names none (inside a collector container).
"""

import json
import os
import sys
import tarfile

from .collect_tree import DIR, GLOB, OUTSIDE, Cut, Missing, Outside, Unreadable, Workspace, shown

NO_MATCH = "no file matches this path"


class Sink:
    """The tar on stdout and the report, with the limits per file, per run and on errors."""

    def __init__(self, req, out):
        self.req, self.out = req, out
        self.files, self.errors, self.unlisted, self.refused = [], [], 0, set()
        self.names, self.total = {}, 0  # recorded name -> (device, inode)

    def error(self, path, code, message):
        path = path if isinstance(path, str) else shown(path)
        if (path, code) in self.refused:  # the same path met again through another pattern
            return
        self.refused.add((path, code))
        if len(self.errors) < self.req["maxErrors"]:
            self.errors.append({"path": path, "code": code, "message": message})
        else:
            self.unlisted += 1

    def report(self):
        if not self.unlisted:
            return self.errors
        why = (
            f"{self.unlisted} more paths were refused; only the first {len(self.errors)} are listed"
        )
        return [*self.errors, {"path": "", "code": "walk_limit", "message": why}]

    def take(self, parts, fd, st):
        with os.fdopen(fd, "rb") as fh:
            name, key, req = shown(parts), (st.st_dev, st.st_ino), self.req
            if name in self.names:
                if self.names[name] != key:  # a non-UTF-8 name escaped into another's name
                    self.error(name, "unreadable", "another file was collected under this name")
            elif len(name) > req["maxPathChars"]:
                why = f"a path of {len(name)} characters is over the {req['maxPathChars']} limit"
                self.error(name, "unreadable", why)
            elif st.st_size > req["maxFileBytes"]:
                self.error(name, "too_large", f"{st.st_size} bytes is over the limit")
            elif (
                self.total + st.st_size > req["maxTotalBytes"] or len(self.files) >= req["maxFiles"]
            ):
                self.error(name, "limit_reached", "the run's artifact limit is reached")
            else:
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = st.st_size, 0o644, int(st.st_mtime)
                self.out.addfile(info, fh)
                self.names[name] = key
                self.total += st.st_size
                self.files.append(name)


def visit(ws, sink, parts, label):
    """Collect what `parts` names (a file, or every file below a directory); False when it names
    nothing at all."""
    try:
        kind, fd, st = ws.lookup(parts)
    except Outside:
        sink.error(label, "outside_workspace", OUTSIDE)
        return True
    except Missing:
        return False
    except Unreadable as exc:
        sink.error(label, "unreadable", str(exc))
        return True
    if kind == "file":
        sink.take(parts, fd, st)
    elif kind == "other":
        sink.error(label, "not_regular_file", "not a regular file")
    else:
        for item in ws.walk(fd, parts):
            walked(ws, sink, item)
    return True


def walked(ws, sink, item):
    kind, path = item[0], item[1]
    if kind == "file":
        sink.take(path, item[2], item[3])
    elif kind == "other":
        sink.error(path, "not_regular_file", "not a regular file")
    elif kind == "unreadable":
        sink.error(path, "unreadable", item[2])
    else:  # a link met while walking: followed to a file inside, never to a directory
        try:
            kind, fd, st = ws.lookup(path)
        except Outside:
            return sink.error(path, "outside_workspace", OUTSIDE)
        except (Missing, Unreadable):
            return sink.error(path, "unreadable", "the link's target cannot be read")
        if kind == "file":
            return sink.take(path, fd, st)
        if fd is not None:
            os.close(fd)
        why = "symlinked directory not followed" if kind == "dir" else "not a regular file"
        sink.error(path, "not_regular_file", why)


def split(pattern):
    """The names of a relative path without `..`, as bytes; None for any other path."""
    clean = pattern.strip() if isinstance(pattern, str) else ""
    try:
        raw = clean.encode()
    except UnicodeEncodeError:
        return None
    parts = [p for p in raw.split(b"/") if p not in (b"", b".")]
    if not clean or raw.startswith(b"/") or b".." in parts or b"\0" in raw:
        return None
    return parts


def collect_pattern(ws, sink, pattern):
    parts = split(pattern)
    ws.too_deep = None
    if parts is None:
        sink.error(str(pattern), "outside_workspace", "path must be relative to /workspace")
    elif not any(GLOB & set(p) for p in parts):
        if not visit(ws, sink, parts, pattern):
            sink.error(pattern, "no_match", NO_MATCH)
    else:
        ws.led_outside = False
        hits = [visit(ws, sink, list(m), shown(m)) for m in ws.expand(parts)]
        if not any(hits):
            code = "outside_workspace" if ws.led_outside else "no_match"
            sink.error(pattern, code, OUTSIDE if ws.led_outside else NO_MATCH)
    if ws.too_deep:
        why = f"directories deeper than {ws.max_depth} levels were not entered"
        sink.error(ws.too_deep, "walk_limit", why)


def main():
    req = json.loads(sys.argv[1])
    given = os.environ.get("CROWNEST_COLLECT_FD")
    root = int(given) if given else os.open("/workspace", DIR)
    out = tarfile.open(fileobj=sys.stdout.buffer, mode="w|", format=tarfile.PAX_FORMAT)
    ws, sink, timed_out = Workspace(root, req), Sink(req, out), False
    for pattern in req["patterns"]:
        try:
            collect_pattern(ws, sink, pattern)
        except Cut as cut:
            timed_out = str(cut) == "time"
            if not timed_out:
                why = f"the walk stopped after {ws.max_entries} entries; later files are left out"
                sink.error(pattern, "walk_limit", why)
            break
    out.close()
    sys.stdout.buffer.flush()
    sys.stderr.write(
        json.dumps({"files": sink.files, "errors": sink.report(), "timedOut": timed_out})
    )


if __name__ == "__main__":
    main()
