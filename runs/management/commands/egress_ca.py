"""The egress CA (docs/operations.md, "Network egress"): `create [--if-missing]`, `rotate`,
`show`. The private key is written mode 0600 under CROWNEST_EGRESS_CA_DIR; restart the egress
proxy after a rotation."""

from django.conf import settings
from django.core.management.base import BaseCommand

from runs.egress.ca import ca_create, ca_describe, ca_paths, ca_rotate


class Command(BaseCommand):
    help = "Create, rotate or show the egress proxy's CA."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["create", "rotate", "show"])
        parser.add_argument("--if-missing", action="store_true")

    def handle(self, *args, action, if_missing, **options):
        folder = settings.CROWNEST_EGRESS_CA_DIR
        name = f"CrowNest egress CA ({settings.CROWNEST_INSTANCE})"
        key_file, _cert = ca_paths(folder)
        if action == "create":
            if key_file.exists():
                if if_missing:
                    return
                self.stderr.write(f"{key_file} exists; `egress_ca rotate` replaces it")
                raise SystemExit(1)
            ca_create(folder, common_name=name)
        elif action == "rotate":
            ca_rotate(folder, common_name=name)
            self.stdout.write("rotated: restart the egress proxy to sign with the new CA")
        info = ca_describe(folder)
        self.stdout.write(
            f"egress CA {info['subject']} sha256 {info['sha256']} until {info['notAfter']}"
        )
        self.stdout.write(f"key {key_file} (mode 0600)")
