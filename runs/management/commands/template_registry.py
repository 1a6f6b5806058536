from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from runs.sandbox_templates.engine import images_record
from runs.sandbox_templates.registry import versions_push
from runs.worker.sandbox import SandboxError, get_sandbox


class Command(BaseCommand):
    help = (
        "Push every ready template version whose image this host's Docker engine has into the "
        "installation's registry (CROWNEST_REGISTRY, or --registry), unless the registry already "
        "holds that image under the version's reference, and record the registry's digest. "
        "make setup runs it for the python-node image; run it after a failed push."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["push"])
        parser.add_argument("--registry", default="", help="host:port (default CROWNEST_REGISTRY)")

    def handle(self, *args, registry="", **options):
        registry = registry or settings.CROWNEST_REGISTRY
        if not registry:
            raise CommandError("no registry: set CROWNEST_REGISTRY or pass --registry host:port")
        try:
            sandbox = get_sandbox()
            images_record(sandbox)  # the digests of images built under images/, as here
            for line in versions_push(sandbox=sandbox, registry=registry):
                self.stdout.write(line)
        except SandboxError as exc:
            raise CommandError(str(exc)) from exc
