"""What signing adds to a run's end: evidence_build with and without the attestation (the
statement, ECDSA P-256 signature and the extra row), for runs of a realistic size, measured in
the same invocation. Also the raw signature and verification cost.

Self-contained: a temporary SQLite database unless DATABASE_URL is set.
Usage: .venv/bin/python bench/evidence_sign.py [--runs N] [--events N] [--artifacts N]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TMP = tempfile.mkdtemp(prefix="crownest-bench-")
os.environ.setdefault("DATABASE_URL", f"sqlite:///{TMP}/bench.sqlite3")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crownest_web.settings")
os.environ.setdefault("CROWNEST_SECRET_KEY", "bench-only")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

from evidence.keys import key_generate, signing_key  # noqa: E402
from evidence.models import EvidenceBundle  # noqa: E402
from evidence.services import evidence_build  # noqa: E402
from runs import lifecycle  # noqa: E402
from runs.models import Artifact, Run  # noqa: E402
from runs.stream import events  # noqa: E402


def ended_run(owner, n_events: int, n_artifacts: int) -> str:
    run = Run.objects.create(
        owner=owner,
        template="python-node",
        command="npm test",
        timeout_seconds=600,
        archive_size_bytes=1000,
        archive_sha256="a" * 64,
        archive_filename="repo.tgz",
        env={"CI": "true"},
        artifact_paths=["dist/"],
        status=Run.Status.RUNNING,
        started_at=timezone.now(),
        image="crownest/python-node:x",
        image_digest="sha256:" + "b" * 64,
    )
    batch = [("stdout", {"text": f"line {i}\n"}) for i in range(n_events)]
    events.append(run.id, batch)
    for i in range(n_artifacts):
        Artifact.objects.create(
            run=run,
            path=f"dist/f{i}.js",
            size_bytes=10,
            sha256=f"{i:064x}",
            content_type="text/javascript",
            file="x",
        )
    lifecycle.transition(run.id, Run.Status.SUCCEEDED, exit_code=0)
    return run.id


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--artifacts", type=int, default=10)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    owner, _ = get_user_model().objects.get_or_create(username="bench")
    signed_key = Path(TMP) / "key.pem"
    key_generate(signed_key)
    results = {"unsigned": [], "signed": []}
    for i in range(args.runs * 2):
        mode = "signed" if i % 2 else "unsigned"  # interleaved: both see the same machine
        settings.CROWNEST_EVIDENCE_KEY_FILE = signed_key if mode == "signed" else Path(TMP) / "none"
        run_id = ended_run(owner, args.events, args.artifacts)
        results[mode].append(timed(lambda rid=run_id: evidence_build(run_id=rid)))
        assert ("attestation" in EvidenceBundle.objects.get(run_id=run_id).data) == (
            mode == "signed"
        )
    settings.CROWNEST_EVIDENCE_KEY_FILE = signed_key
    key = signing_key()
    data = os.urandom(4096)
    sign_ms = [timed(lambda: key.sign(data)) for _ in range(200)]
    print(f"{args.runs} runs each, {args.events} events, {args.artifacts} artifacts per run")
    for mode, values in results.items():
        values.sort()
        print(
            f"  evidence_build {mode:8s} median {statistics.median(values):7.2f} ms"
            f"  p90 {values[int(len(values) * 0.9) - 1]:7.2f} ms"
        )
    added = statistics.median(results["signed"]) - statistics.median(results["unsigned"])
    print(f"  signing adds (median difference)   {added:7.2f} ms   (target < 20 ms)")
    print(f"  one ECDSA P-256 signature: median {statistics.median(sign_ms):.3f} ms")


if __name__ == "__main__":
    main()
