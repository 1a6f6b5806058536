"""manage.py evidence_backfill: bundles for ended runs that have none, and signed attestations
for bundles written before signing existed. Idempotent; prints progress."""

from django.core.management.base import BaseCommand

from evidence.models import EvidenceBundle
from evidence.services import attestation_ensure, evidence_build
from runs.models import Run


class Command(BaseCommand):
    help = "Write missing Evidence Bundles and sign unsigned ones (safe to run again)."

    def add_arguments(self, parser):
        parser.add_argument("--batch", type=int, default=500)

    def handle(self, batch=500, **_):
        missing = Run.objects.filter(
            status__in=Run.TERMINAL, terminal_seq__isnull=False, evidence__isnull=True
        ).values_list("id", flat=True)
        for run_id in missing.iterator(chunk_size=batch):
            evidence_build(run_id=run_id)
        unsigned = EvidenceBundle.objects.filter(attestation__isnull=True).order_by("pk")
        total, done = unsigned.count(), 0
        self.stdout.write(f"{total} bundles to sign")
        for bundle in unsigned.iterator(chunk_size=batch):
            attestation_ensure(bundle)
            done += 1
            if done % batch == 0 or done == total:
                self.stdout.write(f"signed {done}/{total}")
        self.stdout.write(f"done: {done} signed")
