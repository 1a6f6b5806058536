"""Runs INSIDE the sandbox as its main process (python3 -c), as the sandbox user.

It waits on stdin for one job: a JSON header line {"argv": [...], "env": {...}} followed by the
verified .tar.gz, which it pipes into GNU tar (extracting into /workspace), then prints MARK on
stdout and on stderr and execs the command in its place (so the command is the container's main
process: an OOM kill, a signal or the exit code are the command's own). A container is used for
one job.

A network run's env also names a relay (CROWNEST_EGRESS_RELAY: JSON {"port", "socket", "code"},
taken out of the command's env): before the command, the bootstrap binds 127.0.0.1:port and
hands the bound socket to the relay (runs/egress/relay_script.py), detached, so the command's
first request finds it listening.

If extraction fails it prints tar's complaint on stderr and exits 125 without MARK.
Standard library only: it must run on the template image's Python.
"""

import json
import os
import socket
import subprocess
import sys

MARK = b"\x00crownest:extracted\x00\n"
TAR = [
    "tar", "-xzf", "-", "-C", "/workspace", "--no-same-owner", "--no-same-permissions",
    "--delay-directory-restore",
]  # fmt: skip
CHUNK = 1 << 16
RELAY = "CROWNEST_EGRESS_RELAY"


def start_relay(relay):
    """The egress relay, bound here (no race with the command) and detached into its own
    session, reparented to the container's init; its output goes nowhere near the run's."""
    listener = socket.create_server(("127.0.0.1", relay["port"]))
    fd = listener.fileno()
    os.set_inheritable(fd, True)
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            null = os.open(os.devnull, os.O_RDWR)
            for target in (0, 1, 2):
                os.dup2(null, target)
            os.execv(
                sys.executable, [sys.executable, "-c", relay["code"], str(fd), relay["socket"]]
            )
        os._exit(0)
    os.wait()
    listener.close()


def main():
    stdin = sys.stdin.buffer
    header = json.loads(stdin.readline())
    tar = subprocess.Popen(TAR, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        while chunk := stdin.read1(CHUNK):
            tar.stdin.write(chunk)
        tar.stdin.close()
    except BrokenPipeError:
        pass  # tar stopped early; its exit code and message say why
    complaint = tar.stderr.read()
    if tar.wait() != 0:
        sys.stderr.buffer.write(complaint[-4000:] or b"tar failed")
        sys.stderr.flush()
        os._exit(125)
    os.chdir("/workspace")
    env = {**os.environ, **header.get("env", {})}
    relay = env.pop(RELAY, "")
    if relay:
        try:
            start_relay(json.loads(relay))
        except (ValueError, KeyError, TypeError, OSError) as exc:
            sys.stderr.write(f"crownest: the egress relay did not start: {exc}\n")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # the command reads an empty stdin, as with `docker run` without -i
    for out in (sys.stdout, sys.stderr):  # on both: Docker keeps no order between the two
        out.buffer.write(MARK)
        out.flush()
    argv = header["argv"]
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as exc:
        sys.stderr.write(f"cannot run {argv[0]}: {exc.strerror}\n")
        sys.stderr.flush()
        os._exit(127 if isinstance(exc, FileNotFoundError) else 126)


if __name__ == "__main__":
    main()
