"""Signing keys: ECDSA P-256. The private key is a PEM file on the hosts that finish runs (the
workers), named by CROWNEST_EVIDENCE_KEY_FILE; every public key, current or retired, is a row of
EvidenceKey, which is all the web process needs to serve and check attestations."""

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import EvidenceKey

ALGORITHM = "ecdsa-p256-sha256"


class KeyUnavailable(Exception):
    """No usable private key on this host: runs still end, their attestation waits."""


def public_pem(public_key) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def keyid_of(public_key) -> str:
    """Hex sha256 of the DER SubjectPublicKeyInfo, as docs/evidence.md and API.md define it."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


@dataclass(frozen=True)
class SigningKey:
    keyid: str
    private_key: ec.EllipticCurvePrivateKey

    def sign(self, data: bytes) -> bytes:
        """A DER-encoded ECDSA signature over sha256(data)."""
        return self.private_key.sign(data, ec.ECDSA(hashes.SHA256()))


def key_path() -> Path:
    return Path(settings.CROWNEST_EVIDENCE_KEY_FILE)


def key_generate(path: Path) -> ec.EllipticCurvePrivateKey:
    """A new private key written to `path` with mode 0600 (refusing to overwrite one)."""
    private_key = ec.generate_private_key(ec.SECP256R1())
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return private_key


def key_register(public_key) -> EvidenceKey:
    """The key's row, created on first use (several workers may race: the first one stands)."""
    keyid = keyid_of(public_key)
    existing = EvidenceKey.objects.filter(keyid=keyid).first()
    if existing:
        return existing
    try:
        with transaction.atomic():
            return EvidenceKey.objects.create(
                keyid=keyid, algorithm=ALGORITHM, public_key_pem=public_pem(public_key)
            )
    except IntegrityError:
        return EvidenceKey.objects.get(keyid=keyid)


_loaded: dict[tuple[str, int], ec.EllipticCurvePrivateKey] = {}


def _load(path: Path) -> ec.EllipticCurvePrivateKey:
    """Read once per process and file version: a rotated key is picked up without a restart."""
    try:
        version = (str(path), path.stat().st_mtime_ns)
    except OSError as exc:
        raise KeyUnavailable(f"no evidence signing key at {path}: {exc}") from exc
    if version not in _loaded:
        try:
            private_key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise KeyUnavailable(f"no evidence signing key at {path}: {exc}") from exc
        if not isinstance(private_key, ec.EllipticCurvePrivateKey) or not isinstance(
            private_key.curve, ec.SECP256R1
        ):
            raise KeyUnavailable(f"{path} is not an ECDSA P-256 private key")
        _loaded.clear()
        _loaded[version] = private_key
    return _loaded[version]


def signing_key() -> SigningKey:
    """This host's current key (read once per process). Its public half is registered on every
    use, one indexed lookup, so a key is always listed before anything it signed is served."""
    path = key_path()
    private_key = _load(path)
    row = key_register(private_key.public_key())
    if row.retired_at is not None:
        raise KeyUnavailable(f"the key in {path} ({row.keyid[:16]}…) is retired; rotate")
    return SigningKey(row.keyid, private_key)


def key_rotate(path: Path) -> tuple[EvidenceKey, EvidenceKey | None]:
    """A new key at `path`; the old file is kept beside it as <name>.retired-<keyid> (back it up
    or delete it: only its public half, kept in the database, is needed to verify)."""
    old_row = None
    if path.exists():
        old = serialization.load_pem_private_key(path.read_bytes(), password=None)
        old_row = key_register(old.public_key())
        path.rename(path.with_name(f"{path.name}.retired-{old_row.keyid[:16]}"))
    new_row = key_register(key_generate(path).public_key())
    if old_row is not None:
        EvidenceKey.objects.filter(pk=old_row.pk, retired_at__isnull=True).update(
            retired_at=timezone.now()
        )
        old_row.refresh_from_db()
    _loaded.clear()
    return new_row, old_row
