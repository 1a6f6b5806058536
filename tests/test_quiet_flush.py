"""The flush between transactional tests survives a query that outlives its test (quiet.py)."""

import os
import re
import subprocess
import sys
from urllib.parse import urlparse

from .helpers import ROOT, database_url


def test_a_transaction_held_over_teardown_does_not_break_the_flush(tmp_path):
    """tests/cases/held_lock.py holds a lock past its test's end and asks for another once the
    TRUNCATE has begun: without the guard that is a deadlock, and the session reports an error
    at teardown. Its own pytest session, on a test database of its own."""
    server = urlparse(database_url())._replace(path="/quietcase").geturl()
    log = tmp_path / "quiet-flush.log"
    env = {**os.environ, "DATABASE_URL": server, "CROWNEST_QUIET_LOG": str(log)}
    argv = [sys.executable, "-m", "pytest", "tests/cases/held_lock.py", "-q", "-p", "no:randomly"]
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "1 passed" in summary and "error" not in summary, summary
    # The guard found the held transaction and ended it (between its queries, or in one of its
    # polls of pg_locks): its log names the connection.
    assert re.search(r"held-lock (idle in transaction|active) ", log.read_text()), log.read_text()
