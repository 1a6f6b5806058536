"""Runs INSIDE the sandbox (python3 -c), with /workspace mounted read-only.

argv[1] is a JSON request {patterns, maxFileBytes, maxTotalBytes, maxFiles}. It writes an
uncompressed tar of the matched regular files to stdout and a JSON report {files, errors} to
stderr. Standard library only: it must run on the template image's Python.
"""

import glob
import json
import os
import stat
import sys
import tarfile

ROOT = os.environ.get("CROWNEST_COLLECT_ROOT", "/workspace")
GLOB_CHARS = set("*?[")


def inside(real_root, path):
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root + os.sep), real


def candidates(root, real_root, pattern, errors):
    """Yield (workspace-relative path, real path) for every file the pattern names."""
    clean = pattern.strip()
    norm = os.path.normpath(clean) if clean else ""
    if not clean or os.path.isabs(clean) or norm == ".." or norm.startswith("../"):
        errors.append(err(pattern, "outside_workspace", "path must be relative to /workspace"))
        return
    if GLOB_CHARS & set(clean):
        matches = sorted(glob.glob(norm, root_dir=root, recursive=True))
    else:
        matches = [norm] if os.path.lexists(os.path.join(root, norm)) else []
    if not matches:
        errors.append(err(pattern, "no_match", "no file matches this path"))
        return
    for rel in matches:
        ok, real = inside(real_root, os.path.join(root, rel))
        if not ok:
            errors.append(err(rel, "outside_workspace", "symlink points outside /workspace"))
        elif os.path.isdir(real):
            yield from walk(root, real_root, rel, errors)
        else:
            yield rel, real


def walk(root, real_root, rel_dir, errors):
    for dirpath, dirnames, filenames in os.walk(os.path.join(root, rel_dir)):
        dirnames.sort()
        # os.walk does not descend into symlinked directories; report them instead of
        # silently skipping, and never follow them.
        linked = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        for name in sorted(filenames) + linked:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            ok, real = inside(real_root, full)
            if not ok:
                errors.append(err(rel, "outside_workspace", "symlink points outside /workspace"))
            elif name in linked:
                errors.append(err(rel, "not_regular_file", "symlinked directory not followed"))
            else:
                yield rel, real


def err(path, code, message):
    return {"path": path, "code": code, "message": message}


def main():
    req = json.loads(sys.argv[1])
    root = ROOT
    real_root = os.path.realpath(root)
    errors, files, seen, total = [], [], set(), 0
    out = tarfile.open(fileobj=sys.stdout.buffer, mode="w|", format=tarfile.PAX_FORMAT)
    for pattern in req["patterns"]:
        for rel, real in candidates(root, real_root, pattern, errors):
            if rel in seen:
                continue
            seen.add(rel)
            try:
                fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW)
            except OSError as exc:
                errors.append(err(rel, "unreadable", str(exc.strerror)))
                continue
            with os.fdopen(fd, "rb") as fh:
                st = os.fstat(fh.fileno())
                if not stat.S_ISREG(st.st_mode):
                    errors.append(err(rel, "not_regular_file", "not a regular file"))
                elif st.st_size > req["maxFileBytes"]:
                    errors.append(err(rel, "too_large", f"{st.st_size} bytes is over the limit"))
                elif total + st.st_size > req["maxTotalBytes"] or len(files) >= req["maxFiles"]:
                    errors.append(err(rel, "limit_reached", "the run's artifact limit is reached"))
                else:
                    info = tarfile.TarInfo(rel)
                    info.size, info.mode, info.mtime = st.st_size, 0o644, int(st.st_mtime)
                    out.addfile(info, fh)
                    total += st.st_size
                    files.append(rel)
    out.close()
    sys.stdout.buffer.flush()
    sys.stderr.write(json.dumps({"files": files, "errors": errors}))


if __name__ == "__main__":
    main()
