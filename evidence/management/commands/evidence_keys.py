"""manage.py evidence_keys [list|create|rotate]: the keys that sign attestations."""

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from django.core.management.base import BaseCommand, CommandError

from evidence.keys import key_generate, key_path, key_register, key_rotate
from evidence.models import EvidenceKey
from ops.audit import audit_system

CMD = "evidence_keys"


class Command(BaseCommand):
    help = (
        "List, create or rotate evidence signing keys. The private key is a PEM file on the "
        "worker hosts (CROWNEST_EVIDENCE_KEY_FILE); public keys live in the database and stay "
        "listed after rotation so that old attestations keep verifying."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "action", nargs="?", default="list", choices=["list", "create", "rotate"]
        )
        parser.add_argument("--file", help="the private key file (default: the setting)")
        parser.add_argument(
            "--if-missing",
            action="store_true",
            help="create: do nothing when the key file already exists",
        )

    def handle(self, action, file=None, if_missing=False, **_):
        path = Path(file) if file else key_path()
        if action == "create":
            return self.create(path, if_missing)
        if action == "rotate":
            new, old = key_rotate(path)
            retired = {"retired": old.keyid if old else None, "file": str(path)}
            audit_system(
                "evidence_key.rotate", "evidence_key", new.keyid, command=CMD, details=retired
            )
            if old is not None:
                self.stdout.write(f"retired {old.keyid}")
            self.stdout.write(
                f"current {new.keyid} ({path}); workers sign with it from their next run"
            )
            return None
        for key in EvidenceKey.objects.order_by("created_at"):
            state = f"retired {key.retired_at:%Y-%m-%d %H:%M}" if key.retired_at else "current"
            self.stdout.write(f"{key.keyid}  {key.algorithm}  {key.created_at:%Y-%m-%d}  {state}")
        return None

    def create(self, path: Path, if_missing: bool) -> None:
        if path.exists():
            if not if_missing:
                raise CommandError(f"{path} exists; use `rotate` to replace it")
            private = serialization.load_pem_private_key(path.read_bytes(), password=None)
            row = key_register(private.public_key())
            self.stdout.write(f"key {row.keyid} already at {path}")
            return
        row = key_register(key_generate(path).public_key())
        audit_system(
            "evidence_key.create",
            "evidence_key",
            row.keyid,
            command=CMD,
            details={"file": str(path)},
        )
        self.stdout.write(f"created {row.keyid} at {path} (mode 0600); back this file up")
