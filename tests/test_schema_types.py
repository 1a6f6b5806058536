"""The TypeScript SDK's generated types (clients/typescript/src/schema.ts) are what the served
OpenAPI schema generates now: an API change without `npm run gen-types` fails here."""

import difflib
import subprocess

import pytest

from .helpers import ROOT

TS = ROOT / "clients" / "typescript"
COMMITTED = TS / "src" / "schema.ts"


def node_modules():
    """openapi-typescript as package-lock.json pins it (npm ci once, as a clean clone would)."""
    if not (TS / "node_modules" / "openapi-typescript").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=TS, check=True, timeout=600)


@pytest.mark.node
@pytest.mark.django_db
def test_committed_typescript_types_match_the_served_schema(client, tmp_path):
    served = client.get("/api/v1/schema/", {"format": "json"})
    assert served.status_code == 200
    schema = tmp_path / "openapi.json"
    schema.write_bytes(served.content)
    node_modules()
    out = tmp_path / "schema.ts"
    subprocess.run(
        ["node", "scripts/gen-types.mjs", "--schema", str(schema), "--out", str(out)],
        cwd=TS,
        check=True,
        capture_output=True,
        timeout=120,
    )
    fresh, committed = out.read_text(), COMMITTED.read_text()
    diff = "".join(
        difflib.unified_diff(
            committed.splitlines(True), fresh.splitlines(True), "committed", "generated", n=1
        )
    )
    assert fresh == committed, (
        "clients/typescript/src/schema.ts is stale: run `npm run gen-types` in "
        f"clients/typescript against this server and commit it.\n{diff[:4000]}"
    )


def test_the_sdk_types_are_views_of_the_generated_ones():
    types = (TS / "src" / "types.ts").read_text()
    assert 'from "./schema.js"' in types
    for name in ("Run", "RunEvent", "Artifact", "Transfer", "Evidence", "Template", "RunList"):
        assert f"export type {name} = " in types, name
    assert "export interface" not in types  # nothing hand-written that the schema describes
