"""`make demo`: runs examples/hello as a real Workspace Run through the API and shows the result."""

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from crownest_client import pack_bytes  # the SDK's deterministic packer (clients/python)

ROOT = Path(__file__).resolve().parent.parent
BASE = os.environ.get("CROWNEST_URL", f"http://127.0.0.1:{os.environ.get('CROWNEST_PORT', '8000')}")
TOKEN_FILE = ROOT / "var" / "demo-token"
DEMO_USER, DEMO_PASSWORD = "demo", "demo"


def token() -> str:
    if TOKEN_FILE.exists():
        key = TOKEN_FILE.read_text().strip()
        if httpx.get(f"{BASE}/api/v1/templates", headers=auth(key)).status_code == 200:
            return key
    out = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "issue_token",
            DEMO_USER,
            "--create-user",
            "--password",
            DEMO_PASSWORD,
            "--name",
            "demo",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    key = out.stdout.strip()
    TOKEN_FILE.write_text(key)
    TOKEN_FILE.chmod(0o600)
    return key


def auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def check(resp: httpx.Response) -> dict:
    if resp.status_code >= 400:
        sys.exit(f"API error {resp.status_code}: {resp.text}")
    return resp.json()


def main() -> int:
    key = token()
    api = httpx.Client(base_url=f"{BASE}/api/v1", headers=auth(key), timeout=60)
    data = pack_bytes(ROOT / "examples" / "hello")
    digest = hashlib.sha256(data).hexdigest()
    run = check(
        api.post(
            "/workspace-runs",
            json={
                "template": "python-node",
                "command": "npm test && python3 build.py",
                "archive": {"sizeBytes": len(data), "sha256": digest, "filename": "hello.tgz"},
                "artifactPaths": ["dist/", "reports/*.xml"],
                "timeoutSeconds": 120,
                "reuseArchive": False,  # the demo shows the upload, also when run again
            },
        )
    )
    print(f"==> created {run['id']} ({len(data)} bytes, sha256 {digest[:16]}…)")
    check(
        api.put(
            f"/workspace-runs/{run['id']}/archive",
            content=data,
            headers={"Content-Type": "application/gzip"},
        )
    )
    print("==> archive verified; starting")
    check(api.post(f"/workspace-runs/{run['id']}/start"))
    after, terminal = 0, None
    deadline = time.monotonic() + 300
    while terminal is None and time.monotonic() < deadline:
        page = check(
            api.get(f"/workspace-runs/{run['id']}/events", params={"afterSeq": after, "limit": 500})
        )
        for event in page["events"]:
            kind, payload = event["type"], event["data"]
            if kind == "stdout":
                sys.stdout.write(payload["text"])
            elif kind == "stderr":
                sys.stderr.write(payload["text"])
            elif kind == "status":
                print(f"--- status: {payload['status']}")
            elif kind == "terminal":
                terminal = payload
        after = page["nextAfterSeq"]
        if terminal is None and not page["hasMore"]:
            time.sleep(0.3)
    if terminal is None:
        sys.exit("the run did not finish in time")
    print(
        f"==> {terminal['status']} (exit code {terminal['exitCode']}, "
        f"{terminal['durationSeconds']} s)"
    )
    for artifact in check(api.get(f"/workspace-runs/{run['id']}/artifacts")):
        print(
            f"    artifact {artifact['path']}: {artifact['sizeBytes']} bytes, "
            f"sha256 {artifact['sha256'][:16]}…  {artifact['downloadUrl']}"
        )
    for _ in range(50):
        resp = api.get(f"/workspace-runs/{run['id']}/evidence")
        if resp.status_code == 200:
            bundle = resp.json()
            print(f"==> Evidence Bundle: {BASE}/api/v1/workspace-runs/{run['id']}/evidence")
            print(
                f"    events {bundle['events']['count']}, log sha256 "
                f"{bundle['events']['sha256'][:16]}…, image {bundle['template']['imageDigest']}"
            )
            break
        time.sleep(0.2)
    print(f"==> run page: {BASE}/runs/{run['id']}")
    print(
        f"==> the stack keeps running at {BASE}/  (sign in as {DEMO_USER} / {DEMO_PASSWORD};"
        f" API token in var/demo-token; `make down` stops it)"
    )
    return 0 if terminal["status"] == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
