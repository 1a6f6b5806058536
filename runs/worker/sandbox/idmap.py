"""A run's workspace filesystem as the collector sees it on a disk-image host: a detached,
read-only, id-mapped mount, handed over as one descriptor.

- Detached: the image is mounted on a private folder only long enough to clone that mount
  (open_tree(OPEN_TREE_CLONE)), then unmounted; the clone is reachable through its descriptor
  alone, so no path on the host leads into the run's files while they are read.
- Id-mapped (mount_setattr(MOUNT_ATTR_IDMAP), Linux 5.12+ for ext4): through the clone, files of the
  sandbox user (on disk, uid 1000 by default) belong to CROWNEST_COLLECT_UID, a uid that no
  account and no file on the host has. The collector runs as that uid and reads what the sandbox
  user could read, without being a uid that owns anything on the host.

Kernels or filesystems without id-mapped mounts raise IdmapUnavailable; the caller then collects
in a container instead (docker.py)."""

import contextlib
import ctypes
import grp
import os
import pwd
import struct
import subprocess
import tempfile
from pathlib import Path

from .base import SandboxError

# Syscalls added since Linux 5.0 have one number on every architecture.
SYS_OPEN_TREE, SYS_MOUNT_SETATTR = 428, 442
AT_FDCWD, AT_EMPTY_PATH, OPEN_TREE_CLONE = -100, 0x1000, 1
MOUNT_ATTRS = 0x1 | 0x2 | 0x4 | 0x8 | 0x100000  # RDONLY, NOSUID, NODEV, NOEXEC, IDMAP
MOUNT_OPTIONS = "ro,nosuid,nodev,noexec,noload"

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_namespaces: dict[tuple[int, int, int], int] = {}  # (uid, gid, collector uid) -> userns fd


class IdmapUnavailable(SandboxError):
    """This host cannot make an id-mapped mount of the workspace."""


def _syscall(number: int, *args) -> int:
    result = _libc.syscall(number, *args)
    if result < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))
    return result


def collector_uid(uid: int, owner_uid: int) -> int:
    """`uid`, once checked to be nobody's: no account, no group, not the sandbox user, not root."""
    if uid in (0, owner_uid):
        raise SandboxError(f"CROWNEST_COLLECT_UID={uid} is root or the sandbox user")
    for lookup, what in ((pwd.getpwuid, "an account"), (grp.getgrgid, "a group")):
        with contextlib.suppress(KeyError):
            lookup(uid)
            raise SandboxError(f"CROWNEST_COLLECT_UID={uid} is {what} here; choose a free uid")
    return uid


def mapping(uid: int, gid: int, to: int) -> int:
    """A user namespace that maps uid and gid (the sandbox user's) to `to`, made once per process:
    a holder process enters a new namespace, its maps are written from here, and a descriptor of
    the namespace outlives the holder."""
    key = (uid, gid, to)
    if key in _namespaces:
        return _namespaces[key]
    try:
        holder = subprocess.Popen(
            ["unshare", "--user", "sh", "-c", "echo; read _"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
    except OSError as exc:
        raise IdmapUnavailable(f"cannot make a user namespace: {exc}") from exc
    try:
        if not holder.stdout.readline():  # the namespace exists once its shell speaks
            raise IdmapUnavailable("cannot make a user namespace (unshare --user failed)")
        Path(f"/proc/{holder.pid}/uid_map").write_text(f"{uid} {to} 1\n")
        Path(f"/proc/{holder.pid}/gid_map").write_text(f"{gid} {to} 1\n")
        _namespaces[key] = os.open(f"/proc/{holder.pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise IdmapUnavailable(f"cannot map the sandbox user: {exc}") from exc
    finally:
        holder.stdin.close()
        holder.wait(10)
    return _namespaces[key]


def _run(*argv: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise SandboxError(f"{argv[0]} failed: {done.stderr.strip()[:300]}")


def _clone(device: str) -> int:
    """A detached clone of a read-only mount of `device`, whose own mount is gone at once."""
    mountpoint = tempfile.mkdtemp(prefix="crownest-collect-")  # 0700, root's
    tree = None
    try:
        _run("mount", "-t", "ext4", "-o", MOUNT_OPTIONS, device, mountpoint)
        try:
            flags = ctypes.c_uint(OPEN_TREE_CLONE | os.O_CLOEXEC)
            tree = _syscall(SYS_OPEN_TREE, AT_FDCWD, os.fsencode(mountpoint), flags)
        except OSError as exc:
            raise IdmapUnavailable(f"cannot clone the workspace mount: {exc}") from exc
        finally:
            _run("umount", mountpoint)
    except BaseException:
        if tree is not None:
            os.close(tree)
        raise
    finally:
        os.rmdir(mountpoint)
    return tree


@contextlib.contextmanager
def workspace_tree(device: str, owner: str, uid: int):
    """Yield a descriptor (O_PATH) of the root of a detached, read-only mount of the workspace on
    `device`, in which the files of `owner` ("uid:gid") belong to `uid`."""
    owner_uid, _, owner_gid = owner.partition(":")
    ns = mapping(int(owner_uid), int(owner_gid or owner_uid), collector_uid(uid, int(owner_uid)))
    tree = _clone(device)
    try:
        attr = struct.pack("QQQQ", MOUNT_ATTRS, 0, 0, ns)
        size = ctypes.c_size_t(len(attr))
        _syscall(SYS_MOUNT_SETATTR, tree, b"", ctypes.c_uint(AT_EMPTY_PATH), attr, size)
    except OSError as exc:
        os.close(tree)
        raise IdmapUnavailable(f"cannot id-map the workspace mount: {exc}") from exc
    try:
        yield tree
    finally:
        os.close(tree)
