"""How the artifact collector looks a path up in a run's workspace (the first half of the collector
script; collect_script.py is the second). It reaches the run's workspace only through one open
directory descriptor: on the worker host, a detached read-only mount of the workspace held by a
process whose uid owns nothing there (host_collect.py); without a disk image, /workspace inside a
container of its own (docker.py).

The run wrote every name and link here, so: each name is looked up on its own, relative to its
directory's descriptor and with O_NOFOLLOW, so the kernel never follows a run's link; links are
read and followed here by the workspace's rules (a relative target, or an absolute one under
/workspace; any other leads outside and nothing past it is looked at, so no answer depends on
what exists outside); only regular files are opened (lstat, then O_NOFOLLOW | O_NONBLOCK and
fstat); every walk counts its entries, its depth and its time. Names are bytes: a name that is not
UTF-8 is recorded with its invalid bytes, and its '%', percent-escaped (b"bad\\xff" -> "bad%FF").
"""

import codecs
import fnmatch
import os
import stat
import time

DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
MAX_LINKS = 40  # as the kernel's own limit on links followed in one lookup
GLOB = set(b"*?[")
OUTSIDE = "a symlink on this path leads outside /workspace; it is not followed"
codecs.register_error(
    "crownest-percent",
    lambda e: ("".join(f"%{b:02X}" for b in e.object[e.start : e.end]), e.end),
)


def shown(parts):
    """The recorded name of a path (a list of byte names)."""
    out = []
    for name in parts:
        try:
            out.append(name.decode())
        except UnicodeDecodeError:
            out.append(name.replace(b"%", b"%25").decode("utf-8", "crownest-percent"))
    return "/".join(out)


class Outside(Exception):
    """A link on the path leads out of the workspace."""


class Missing(Exception):
    """Nothing by that name (or a name on the way is not a directory)."""


class Unreadable(Exception):
    """It exists but cannot be read (permissions, a link loop): the message says why."""


class Cut(Exception):
    """A bound of the whole collection was reached: "entries" or "time"."""


def _call(action, *args, **kwargs):
    try:
        return action(*args, **kwargs)
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise Missing from exc
    except OSError as exc:
        raise Unreadable(exc.strerror or str(exc)) from exc


def beneath(target):
    """The part of an absolute link target under /workspace, or None when it leads elsewhere."""
    parts = [p for p in target.split(b"/") if p]
    return b"/".join(parts[1:]) if parts[:1] == [b"workspace"] else None


class Workspace:
    def __init__(self, root_fd, req):
        self.root = root_fd
        self.max_entries, self.max_depth = req["maxEntries"], req["maxDepth"]
        self.deadline = time.monotonic() + req["seconds"]
        self.entries = 0
        self.led_outside = False  # a glob's literal part led outside (set by directory())
        self.too_deep = None  # the first directory left out for the depth bound

    def clock(self):
        if time.monotonic() > self.deadline:
            raise Cut("time")

    def tick(self):
        self.entries += 1
        if self.entries > self.max_entries:
            raise Cut("entries")
        self.clock()

    def lookup(self, parts):
        """("dir" | "file" | "other", fd or None, stat) for a path of byte names from the root,
        following the workspace's own links; only directories and regular files are opened."""
        todo, links = list(reversed(parts)), 0
        stack = [_call(os.open, ".", DIR, dir_fd=self.root)]
        try:
            while todo:
                self.clock()
                name = todo.pop()
                if name in (b"", b"."):
                    continue
                if name == b"..":
                    if len(stack) == 1:
                        raise Outside
                    os.close(stack.pop())
                    continue
                st = _call(os.stat, name, dir_fd=stack[-1], follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    links += 1
                    if links > MAX_LINKS:
                        raise Unreadable("too many levels of symbolic links")
                    target = _call(os.readlink, name, dir_fd=stack[-1])
                    if target.startswith(b"/"):
                        target = beneath(target)
                        if target is None:
                            raise Outside
                        while len(stack) > 1:
                            os.close(stack.pop())
                    todo.extend(reversed(target.split(b"/")))
                elif not todo:
                    return self.opened(name, stack[-1], st)
                elif stat.S_ISDIR(st.st_mode):
                    stack.append(_call(os.open, name, DIR, dir_fd=stack[-1]))
                else:
                    raise Missing
            return "dir", os.dup(stack[-1]), None
        finally:
            for fd in stack:
                os.close(fd)

    def opened(self, name, dir_fd, st):
        if stat.S_ISDIR(st.st_mode):
            return "dir", _call(os.open, name, DIR, dir_fd=dir_fd), st
        if not stat.S_ISREG(st.st_mode):
            return "other", None, st
        fd = _call(os.open, name, FILE, dir_fd=dir_fd)
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode):
            return "file", fd, st
        os.close(fd)
        return "other", None, st

    def listing(self, fd):
        """[(name, DirEntry)] sorted by name, each entry counted against the bounds."""
        found = []
        with os.scandir(fd) as entries:
            for entry in entries:
                self.tick()
                found.append((os.fsencode(entry.name), entry))
        return sorted(found, key=lambda pair: pair[0])

    def directory(self, parts):
        """An open fd of the directory at `parts`, or None (missing, not a directory)."""
        try:
            kind, fd, _st = self.lookup(parts)
        except Outside:
            self.led_outside = True
            return None
        except (Missing, Unreadable):
            return None
        if kind == "dir":
            return fd
        if fd is not None:
            os.close(fd)
        return None

    def is_dir(self, parts):
        try:
            kind, fd, _st = self.lookup(parts)
        except (Outside, Missing, Unreadable):
            return False
        if fd is not None:
            os.close(fd)
        return kind == "dir"

    def expand(self, parts):
        """The paths (lists of names) a glob names, as glob(recursive=True) finds them, except
        that `**` never enters a symlinked directory and nothing past an outside link is read."""
        found = [[]]
        for i, name in enumerate(parts):
            last, step = i == len(parts) - 1, []
            for base in found:
                if name == b"**":
                    step += [base] if last else self.below(base)
                elif GLOB & set(name):
                    step += self.matching(base, name, dirs_only=not last)
                else:
                    step.append(base + [name])
            found = step
        return list(dict.fromkeys(map(tuple, found)))

    def matching(self, base, pattern, dirs_only):
        fd = self.directory(base)
        if fd is None:
            return []
        found = []
        try:
            for name, entry in self.listing(fd):
                if name.startswith(b".") and not pattern.startswith(b"."):
                    continue
                if not fnmatch.fnmatchcase(name, pattern):
                    continue
                if dirs_only and not entry.is_dir(follow_symlinks=False):
                    if not (entry.is_symlink() and self.is_dir(base + [name])):
                        continue
                found.append(base + [name])
        finally:
            os.close(fd)
        return found

    def below(self, base):
        """`base` and every directory below it (hidden ones and links left out), depth-first."""
        found, todo = [], [base]
        while todo:
            parts = todo.pop()
            found.append(parts)
            if len(parts) >= self.max_depth:
                self.too_deep = self.too_deep or parts
                continue
            fd = self.directory(parts)
            if fd is None:
                continue
            try:
                subs = [
                    parts + [name]
                    for name, entry in self.listing(fd)
                    if not name.startswith(b".") and entry.is_dir(follow_symlinks=False)
                ]
            finally:
                os.close(fd)
            todo += reversed(subs)
        return found

    def walk(self, fd, parts):
        """("file", path, fd, stat), ("link" | "other", path) or ("unreadable", path, why) for
        every entry below the open directory `fd` (closed here), in name order."""
        stack = []
        try:
            stack.append((fd, parts, iter(self.listing(fd))))
            while stack:
                dir_fd, base, entries = stack[-1]
                item = next(entries, None)
                if item is None:
                    os.close(stack.pop()[0])
                    continue
                name, entry = item
                path = base + [name]
                try:
                    if entry.is_symlink():
                        yield "link", path
                    elif entry.is_dir(follow_symlinks=False):
                        if len(path) > self.max_depth:
                            self.too_deep = self.too_deep or path
                            continue
                        sub = _call(os.open, name, DIR, dir_fd=dir_fd)
                        stack.append((sub, path, iter(self.listing(sub))))
                    elif entry.is_file(follow_symlinks=False):
                        kind, file_fd, st = self.opened(
                            name, dir_fd, entry.stat(follow_symlinks=False)
                        )
                        yield (kind, path, file_fd, st) if kind == "file" else ("other", path)
                    else:
                        yield "other", path
                except (Missing, Unreadable, OSError) as exc:
                    yield "unreadable", path, str(exc) or "cannot be read"
        finally:
            for dir_fd, _base, _entries in stack:
                os.close(dir_fd)
