from django.core.management.base import BaseCommand

from runs.retention import retention_sweep


def mib(n: int) -> str:
    return f"{n} bytes ({n / (1 << 20):.1f} MiB)"


class Command(BaseCommand):
    help = (
        "Remove stored archives and artifacts past their retention age (pinned runs, evidence "
        "and event logs are kept). With --dry-run, only say what would be removed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="change nothing; count")
        parser.add_argument("--archive-days", type=int, default=None, help="override the setting")
        parser.add_argument("--artifact-days", type=int, default=None, help="override the setting")
        parser.add_argument("--batch", type=int, default=None, help="rows per transaction")

    def handle(self, *args, dry_run, archive_days, artifact_days, batch, **opts):
        report = retention_sweep(
            dry_run=dry_run, archive_days=archive_days, artifact_days=artifact_days, batch=batch
        )
        verb = "would remove" if dry_run else "removed"
        self.stdout.write(
            f"archives: {verb} {report.archives} stored archive(s) of {report.archive_runs} "
            f"run(s), {mib(report.archive_bytes)}"
        )
        self.stdout.write(
            f"artifacts: {verb} {report.artifacts} artifact(s), {mib(report.artifact_bytes)}"
        )
        self.stdout.write(
            f"downloads: {verb} the recorded downloads of {report.network_runs} run(s): "
            f"{report.network_bodies} body(ies), {mib(report.network_bytes)}"
        )
        if dry_run:
            self.stdout.write("dry run: nothing was changed")
