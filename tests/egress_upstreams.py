"""Local upstreams for the egress tests and the benchmark, on this machine over HTTPS with a
test CA of their own (which only the proxy is told to trust): a minimal Python package index
(PEP 503 simple pages + wheels built here) and a minimal npm registry (package documents +
tarballs built here). Standard library and `cryptography` only."""

import base64
import datetime
import hashlib
import io
import ipaddress
import json
import ssl
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# The upstreams listen on a loopback address that is not 127.0.0.1: a sandbox's NO_PROXY names
# 127.0.0.1 and localhost (its own loopback), and requests to the upstreams must take the proxy.
HOST = "127.0.0.2"


def _name(text):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def _pem_key(key):
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


class TestCA:
    """A CA and one server certificate for HOST, 127.0.0.1 and localhost, written into `folder`."""

    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        now = datetime.datetime.now(datetime.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = (
            x509.CertificateBuilder()
            .subject_name(_name("crownest test upstream CA"))
            .issuer_name(_name("crownest test upstream CA"))
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        names = [x509.DNSName("localhost")]
        names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ("127.0.0.1", HOST)]
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name("localhost"))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        self.ca_file = folder / "test-ca.pem"
        self.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        self.cert_file = folder / "server.pem"
        self.cert_file.write_bytes(_pem_key(key) + cert.public_bytes(serialization.Encoding.PEM))


class Upstream:
    """A threaded HTTPS server answering GET/HEAD from a {path: (content type, bytes)} table;
    it counts the requests it served (a replay must reach it no more)."""

    def __init__(self, ca: TestCA, host: str = HOST, name: str = ""):
        self.files: dict[str, tuple[str, bytes]] = {}
        self.served: list[str] = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, body: bool):
                upstream.served.append(f"{self.command} {self.path}")
                found = upstream.files.get(self.path.split("?")[0])
                if found is None:
                    self.send_error(404)
                    return
                ctype, data = found
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def do_GET(self):
                self._answer(True)

            def do_HEAD(self):
                self._answer(False)

            def do_POST(self):
                upstream.served.append(f"POST {self.path}")
                self.send_error(405)

        self.server = ThreadingHTTPServer((host, 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(ca.cert_file)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.base = f"https://{name or host}:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "Upstream":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- a package index (PEP 503) --------------------------------------------------------------


def build_wheel(name: str, version: str, module_text: str) -> tuple[str, bytes]:
    """A pure-Python wheel: (file name, bytes)."""
    dist = f"{name.replace('-', '_')}-{version}"
    files = {
        f"{name.replace('-', '_')}/__init__.py": module_text.encode(),
        f"{dist}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        ).encode(),
        f"{dist}.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: crownest-tests\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        ),
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist}.dist-info/RECORD,,")
    files[f"{dist}.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files.items():
            info = zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0))
            zf.writestr(info, data)
    return f"{dist}-py3-none-any.whl", buf.getvalue()


def serve_wheel(upstream: Upstream, name: str, filename: str, data: bytes) -> str:
    """Adds the wheel and its simple page; returns the wheel's sha256."""
    digest = hashlib.sha256(data).hexdigest()
    upstream.files[f"/files/{filename}"] = ("application/octet-stream", data)
    page = (
        f'<!DOCTYPE html><html><body><a href="/files/{filename}#sha256={digest}">{filename}</a>'
        "</body></html>"
    )
    upstream.files[f"/simple/{name}/"] = ("text/html", page.encode())
    return digest


# --- an npm registry ------------------------------------------------------------------------


def build_npm_tarball(name: str, version: str, main_text: str) -> bytes:
    package = json.dumps({"name": name, "version": version, "main": "index.js"}).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path, data in (("package/package.json", package), ("package/index.js", main_text)):
            raw = data if isinstance(data, bytes) else data.encode()
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(raw), 0o644, 0
            tar.addfile(info, io.BytesIO(raw))
    return buf.getvalue()


def serve_npm(upstream: Upstream, name: str, version: str, tarball: bytes) -> str:
    """Adds the package document and tarball; returns the tarball's sha256."""
    path = f"/{name}/-/{name}-{version}.tgz"
    upstream.files[path] = ("application/octet-stream", tarball)
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    document = {
        "name": name,
        "dist-tags": {"latest": version},
        "versions": {
            version: {
                "name": name,
                "version": version,
                "main": "index.js",
                "dist": {
                    "tarball": f"{upstream.base}{path}",
                    "shasum": hashlib.sha1(tarball).hexdigest(),
                    "integrity": integrity,
                },
            }
        },
    }
    upstream.files[f"/{name}"] = ("application/json", json.dumps(document).encode())
    return hashlib.sha256(tarball).hexdigest()
