"""Sandboxes seen from the outside (their containers) and from the inside (the hardening probe)."""


def run_containers(docker_client, run_id: str):
    """The run's containers: made for it (labelled), or taken from the pool (renamed to it)."""
    by_label = {"label": f"org.crownest.run={run_id}"}
    found = docker_client.containers.list(all=True, filters=by_label, ignore_removed=True)
    by_name = {"name": f"^/?crownest-run-{run_id}$"}
    found += docker_client.containers.list(all=True, filters=by_name, ignore_removed=True)
    return list({c.id: c for c in found}.values())


# --- the sandbox's hardening, probed from inside (shared by the runc and runsc tests) ---------

HARDENING_PROBE = (
    "import os, socket\n"
    "try:\n"
    "    socket.create_connection(('1.1.1.1', 53), timeout=3); print('net: open')\n"
    "except OSError as e:\n"
    "    print('net: blocked')\n"
    "for p in ('/etc/evil', '/usr/evil', '/evil'):\n"
    "    try:\n"
    "        open(p, 'w').write('x'); print('write', p, 'ok')\n"
    "    except OSError:\n"
    "        print('write', p, 'refused')\n"
    "open('/workspace/fine', 'w').write('x'); print('workspace ok')\n"
    "open('/tmp/fine', 'w').write('x'); print('tmp ok')\n"
    "open('/tmp/t.sh', 'w').write('#!/bin/sh\\necho tmp-exec ok\\n')\n"
    "os.chmod('/tmp/t.sh', 0o755)\n"
    "os.system('/tmp/t.sh')\n"
    "print('uid', os.getuid())\n"
    "print('caps', open('/proc/self/status').read().split('CapEff:')[1].split()[0])\n"
    # prctl(PR_GET_NO_NEW_PRIVS): gVisor enforces the flag but does not show it in /proc.
    "import ctypes; print('nnp', ctypes.CDLL(None).prctl(39, 0, 0, 0, 0))\n"
)


def assert_hardened(out: str) -> None:
    assert "net: blocked" in out
    assert "write /etc/evil refused" in out and "write /usr/evil refused" in out
    assert "write /evil refused" in out
    assert "workspace ok" in out and "tmp ok" in out and "tmp-exec ok" in out
    assert "uid 1000" in out
    assert "caps 0000000000000000" in out
    assert "nnp 1" in out
