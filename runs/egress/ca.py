"""The installation's egress CA: the certificate authority with which the proxy signs the
certificates it shows sandboxes for intercepted HTTPS. Only sandboxes trust it (their bundle is
mounted read-only beside their socket); nothing on the host does.

Stored in mitmproxy's confdir layout: `mitmproxy-ca.pem` (private key + certificate, mode 0600)
and `mitmproxy-ca-cert.pem` (the certificate alone). Rotation keeps the old pair under
`retired/` and takes effect when the proxy restarts."""

import datetime
import os
import shutil
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

KEY_AND_CERT = "mitmproxy-ca.pem"
CERT = "mitmproxy-ca-cert.pem"
VALID_DAYS = 3 * 365


def ca_paths(ca_dir) -> tuple[Path, Path]:
    folder = Path(ca_dir)
    return folder / KEY_AND_CERT, folder / CERT


def ca_create(ca_dir, *, common_name: str) -> Path:
    """A new CA in ca_dir (the key file written 0600 from the start, never readable by others)."""
    folder = Path(ca_dir)
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )  # fmt: skip
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    both, alone = ca_paths(folder)
    _write(both, key_pem + cert_pem, 0o600)
    _write(alone, cert_pem, 0o644)
    return both


def _write(path: Path, data: bytes, mode: int) -> None:
    temp = path.with_suffix(".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(temp, mode)
    temp.replace(path)


def ca_rotate(ca_dir, *, common_name: str) -> Path:
    """Keep the current pair under retired/<time>/ and make a new one."""
    folder = Path(ca_dir)
    both, alone = ca_paths(folder)
    if both.exists():
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        retired = folder / "retired" / stamp
        retired.mkdir(parents=True, mode=0o700)
        for path in (both, alone):
            if path.exists():
                shutil.move(path, retired / path.name)
    return ca_create(folder, common_name=common_name)


def ca_describe(ca_dir) -> dict:
    _both, alone = ca_paths(ca_dir)
    cert = x509.load_pem_x509_certificate(alone.read_bytes())
    return {
        "subject": cert.subject.rfc4514_string(),
        "notAfter": cert.not_valid_after_utc.isoformat(),
        "sha256": cert.fingerprint(hashes.SHA256()).hex(),
    }
