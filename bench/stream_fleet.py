"""Several web processes behind nginx, as docs/deploy.md scales the web tier, for bench/stream.py.

Each process is started with the very command scripts/up.sh uses for the web server (read from
that script, so the benchmark follows whatever server it starts), on a port of its own, with
the environment of the running stack. nginx runs with the `upstream` and `location /` blocks of
deploy/nginx.conf (plain HTTP on loopback instead of TLS). Each process names its database
connections (PGAPPNAME), so pg_stat_activity counts them per process."""

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def up_web_command() -> str:
    """The web server's command line in scripts/up.sh, without nohup and the redirection."""
    text = (ROOT / "scripts" / "up.sh").read_text().replace("\\\n", " ")
    for line in text.splitlines():
        if "nohup" in line and "web.log" in line:
            command = line.split("nohup", 1)[1].split(">var/log/web.log", 1)[0]
            return " ".join(command.split())
    raise RuntimeError("scripts/up.sh starts no web server that this benchmark recognises")


def block(text: str, head: str) -> str:
    """The `head { ... }` block of an nginx config (blocks without nested braces)."""
    match = re.search(re.escape(head) + r"\s*\{[^{}]*\}", text)
    if not match:
        raise RuntimeError(f"deploy/nginx.conf has no `{head}` block")
    return match.group(0)


def nginx_config(folder: Path, port: int, upstreams: list[int]) -> str:
    deploy = (ROOT / "deploy" / "nginx.conf").read_text()
    servers = "".join(f"    server 127.0.0.1:{p};\n" for p in upstreams)
    upstream = re.sub(r"\n\s*server [^;]+;", "", block(deploy, "upstream crownest_web"))
    upstream = upstream.replace("{", "{\n" + servers, 1)
    temp = "".join(
        f"{name}_temp_path {folder / name};\n"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""daemon off;
worker_processes 1;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} warn;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  {temp}
  {upstream}
  map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
  server {{
    listen 127.0.0.1:{port};
    {block(deploy, "location /")}
  }}
}}
"""


class Fleet:
    """`n` web processes and nginx; `base` is nginx's URL. A context manager."""

    def __init__(self, n: int, command: str = ""):
        self.n = n
        self.command = command  # another server's command line, with $PORT, to compare
        self.procs: list[subprocess.Popen] = []
        self.names = [f"crownest-bench-web-{i + 1}" for i in range(n)]
        self.nginx = None
        self.folder = Path(tempfile.mkdtemp(prefix="crownest-bench-nginx-"))
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        command = self.command or up_web_command()
        ports = [free_port() for _ in range(self.n)]
        logs = ROOT / "var" / "log"
        logs.mkdir(parents=True, exist_ok=True)
        for name, port in zip(self.names, ports, strict=True):
            env = {**os.environ, "PORT": str(port), "PGAPPNAME": name}
            with open(logs / f"{name}.log", "wb") as out:
                self.procs.append(
                    subprocess.Popen(
                        ["bash", "-c", f"exec {command}"],
                        cwd=ROOT,
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )
        for port in ports:
            wait_port(port)
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.folder / name).mkdir(mode=0o777)
            os.chmod(self.folder / name, 0o777)
        conf = self.folder / "nginx.conf"
        conf.write_text(nginx_config(self.folder, self.port, ports))
        self.nginx = subprocess.Popen(
            ["nginx", "-c", str(conf), "-p", str(self.folder)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.folder / "stderr.log", "wb"),  # noqa: SIM115
        )
        wait_port(self.port)
        return self

    def __exit__(self, *exc):
        for proc in [self.nginx, *self.procs]:
            if proc and proc.poll() is None:
                proc.terminate()
        for proc in [self.nginx, *self.procs]:
            if proc:
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        shutil.rmtree(self.folder, ignore_errors=True)

    def rss_mib(self) -> list[float]:
        out = []
        for proc in self.procs:
            status = Path(f"/proc/{proc.pid}/status").read_text()
            kib = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
            out.append(kib / 1024)
        return out

    def cpu_seconds(self) -> float:
        """User + system CPU of the web processes so far."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for proc in self.procs:
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        return total / ticks

    def db_connections(self) -> list[int]:
        """Open PostgreSQL connections of each web process (by application_name)."""
        url = urlsplit(os.environ["DATABASE_URL"])
        sql = (
            "SELECT application_name, count(*) FROM pg_stat_activity "
            "WHERE application_name LIKE 'crownest-bench-web-%' GROUP BY 1"
        )
        args = ["psql", "-h", url.hostname, "-p", str(url.port or 5432)]
        args += ["-U", url.username or "postgres", "-d", url.path.lstrip("/"), "-AtF", "|"]
        done = subprocess.run([*args, "-c", sql], capture_output=True, text=True, check=True)
        counts = dict(line.split("|") for line in done.stdout.split())
        return [int(counts.get(name, 0)) for name in self.names]


def wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")
