"""The step-by-step client: one method per API call, typed results, typed errors."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from .canonical import evidence_sha256
from .errors import (
    ApiError,
    EvidenceDigestMismatch,
    EvidenceNotReady,
    StreamError,
    error_from_response,
)
from .models import Artifact, Event, EventPage, Evidence, Run, RunPage, Template
from .transfers import TransferCalls

Progress = Callable[[int, int], None]
UPLOAD_CHUNK = 256 * 1024


class Client(TransferCalls):
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(
            base_url=self.base_url + "/api/v1",
            headers={"Authorization": f"Bearer {token}", "User-Agent": "crownest-python/0.1"},
            timeout=timeout,
            transport=transport,
        )
        # Presigned URLs of object storage: no Authorization header (the URL is the credential).
        self.storage = httpx.Client(
            headers={"User-Agent": "crownest-python/0.1"}, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self.http.close()
        self.storage.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, method: str, path: str, **kw) -> httpx.Response:
        resp = self.http.request(method, path, **kw)
        if resp.status_code >= 400:
            raise error_from_response(resp)
        return resp

    # runs
    def create_run(
        self,
        *,
        template: str,
        command: str | list[str],
        archive: dict,
        artifact_paths: list[str] | None = None,
        timeout_seconds: int | None = None,
        keep_sandbox: bool = False,
        env: dict[str, str] | None = None,
        team: str | None = None,
        reuse_archive: bool = True,
        network: str = "none",
        replay_of: str | None = None,
        resources: dict | None = None,
    ) -> Run:
        """A new run. When you or one of your teams already stored this archive (same sha256
        and size) it is `ready` at once with `archive.upload_method == "reused"`: send nothing
        (`reuse_archive=False` always asks for an upload). `resources` is `{cpus, memoryMiB,
        diskMiB}` (each optional, within the service's, template's and team's maximums)."""
        body: dict[str, Any] = {"template": template, "command": command, "archive": archive}
        if not reuse_archive:
            body["reuseArchive"] = False
        if network != "none":  # "allowlist" or "replay" (with replay_of)
            body["network"] = network
        if replay_of:
            body["replayOf"] = replay_of
        if artifact_paths:
            body["artifactPaths"] = list(artifact_paths)
        if timeout_seconds is not None:
            body["timeoutSeconds"] = timeout_seconds
        if keep_sandbox:
            body["keepSandbox"] = True
        if env:
            body["env"] = dict(env)
        if team:
            body["team"] = team
        if resources:
            body["resources"] = dict(resources)
        return Run.from_json(self._call("POST", "/workspace-runs", json=body).json())

    def get_run(self, run_id: str) -> Run:
        return Run.from_json(self._call("GET", f"/workspace-runs/{run_id}").json())

    def list_runs(self, *, page: int = 1, page_size: int | None = None, **filters) -> RunPage:
        params = {k: v for k, v in filters.items() if v is not None}
        params["page"] = page
        if page_size:
            params["pageSize"] = page_size
        return RunPage.from_json(self._call("GET", "/workspace-runs", params=params).json())

    def start(self, run_id: str) -> Run:
        return Run.from_json(self._call("POST", f"/workspace-runs/{run_id}/start").json())

    def cancel(self, run_id: str) -> Run:
        return Run.from_json(self._call("POST", f"/workspace-runs/{run_id}/cancel").json())

    def rerun(self, run_id: str, *, network: str | None = None) -> Run:
        """A new run with the same template, command, archive, artifact paths, timeout, env and
        team (`run.rerun_of` names the original). It is `ready` at once while the original's
        archive is still stored (start it); otherwise `awaiting_archive` (upload the same file)."""
        body = {"network": network} if network else None  # "replay": this run's downloads
        return Run.from_json(
            self._call("POST", f"/workspace-runs/{run_id}/rerun", json=body).json()
        )

    def list_templates(self) -> list[Template]:
        return [Template.from_json(t) for t in self._call("GET", "/templates").json()]

    # teams, quotas, usage
    def list_teams(self) -> list[dict]:
        """The caller's teams: [{name, role, quotas}] (the limits in force; null: none)."""
        return self._call("GET", "/teams").json()

    def usage(self) -> list[dict]:
        """What the caller and each of their teams use against each limit (GET /usage)."""
        return self._call("GET", "/usage").json()

    # archives
    def upload_archive(self, run_id: str, path: str | Path, *, on_progress: Progress = None) -> Run:
        """Direct upload: streams the file (never read whole into memory)."""
        total = Path(path).stat().st_size

        def body():
            done = 0
            with open(path, "rb") as fh:
                while chunk := fh.read(UPLOAD_CHUNK):
                    done += len(chunk)
                    yield chunk
                    if on_progress:
                        on_progress(done, total)

        resp = self._call(
            "PUT",
            f"/workspace-runs/{run_id}/archive",
            content=body(),
            headers={"Content-Type": "application/gzip", "Content-Length": str(total)},
        )
        return Run.from_json(resp.json())

    # events
    def list_events(self, run_id: str, *, after_seq: int = 0, limit: int = 100) -> EventPage:
        params = {"afterSeq": after_seq, "limit": limit}
        resp = self._call("GET", f"/workspace-runs/{run_id}/events", params=params)
        return EventPage.from_json(resp.json())

    def stream_events(
        self,
        run_id: str,
        after_seq: int = 0,
        *,
        max_retries: int = 8,
        backoff: float = 0.25,
        read_timeout: float = 60.0,
    ) -> Iterator[Event]:
        """Follow a run's events over SSE until the terminal event. A dropped connection (or a
        stream that ends early) reconnects with Last-Event-ID = the last seq seen, so every event
        arrives once, in order. Retries reset whenever an event arrives."""
        last, failures = after_seq, 0
        url = f"/workspace-runs/{run_id}/events/stream"
        timeout = httpx.Timeout(self.http.timeout.connect, read=read_timeout)
        while True:
            headers = {"Accept": "text/event-stream"}
            if last:
                headers["Last-Event-ID"] = str(last)
            try:
                with self.http.stream(
                    "GET", url, params={"afterSeq": last}, headers=headers, timeout=timeout
                ) as resp:
                    if resp.status_code >= 400:
                        resp.read()
                        raise error_from_response(resp)
                    for event in _parse_sse(resp.iter_lines()):
                        if event.seq <= last:
                            continue  # a replay overlap after reconnecting: already delivered
                        last, failures = event.seq, 0
                        yield event
                        if event.type == "terminal":
                            return
            except ApiError as err:
                if err.status < 500 and err.status != 429:
                    raise
            except httpx.TransportError:
                pass
            failures += 1
            if failures > max_retries:
                raise StreamError(f"lost the event stream of {run_id} after seq {last}")
            time.sleep(min(backoff * 2 ** (failures - 1), 10))

    # artifacts and evidence
    def list_artifacts(self, run_id: str) -> list[Artifact]:
        resp = self._call("GET", f"/workspace-runs/{run_id}/artifacts")
        return [Artifact.from_json(a) for a in resp.json()]

    def get_artifact(self, artifact_id: str) -> Artifact:
        return Artifact.from_json(self._call("GET", f"/artifacts/{artifact_id}").json())

    def download_artifact(self, artifact_id: str, dest: str | Path) -> Path:
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        with self.http.stream("GET", f"/artifacts/{artifact_id}/download") as resp:
            if resp.status_code >= 400:
                resp.read()
                raise error_from_response(resp)
            if resp.is_redirect:  # a presigned URL of the bytes: fetched without Authorization
                return _save(self.storage, resp.headers["Location"], dest)
            _write(resp, dest)
        return dest

    def get_evidence(self, run_id: str, *, wait: float = 30.0) -> Evidence:
        """The Evidence Bundle; it is written shortly after the terminal event, so a 409
        evidence_not_ready is retried for up to `wait` seconds. Its `X-Evidence-Sha256` must be
        the digest of the bundle's canonical bytes (RFC 8785), else EvidenceDigestMismatch."""
        resp = self._get_ready(f"/workspace-runs/{run_id}/evidence", wait)
        bundle, served = resp.json(), resp.headers.get("X-Evidence-Sha256")
        if served is not None and served != evidence_sha256(bundle):
            raise EvidenceDigestMismatch(
                f"evidence of {run_id}: served as {served}, its canonical bytes hash to "
                f"{evidence_sha256(bundle)}"
            )
        return Evidence.from_json(bundle, served)

    def get_attestation(self, run_id: str, *, wait: float = 30.0) -> dict:
        """The signed attestation: a DSSE envelope `{payloadType, payload, signatures}` around
        an in-toto Statement (docs/evidence.md)."""
        return json.loads(self.get_attestation_bytes(run_id, wait=wait))

    def get_attestation_bytes(self, run_id: str, *, wait: float = 30.0) -> bytes:
        """The envelope exactly as served: its sha256 is the bundle's `attestation.sha256`."""
        return self._get_ready(f"/workspace-runs/{run_id}/evidence/attestation", wait).content

    def get_sigstore_bundle(self, run_id: str, *, wait: float = 30.0) -> dict:
        """The same envelope as a Sigstore bundle v0.3 (`dsseEnvelope`, key hint, no tlog)."""
        path = f"/workspace-runs/{run_id}/evidence/sigstore-bundle"
        return self._get_ready(path, wait).json()

    def get_network_ndjson(self, run_id: str, *, wait: float = 30.0) -> bytes:
        """The run's network log, the exact bytes whose sha256 is the bundle's
        `network.logSha256` and the Statement's `network.ndjson` subject."""
        return self._get_ready(f"/workspace-runs/{run_id}/network.ndjson", wait).content

    def get_network(self, run_id: str, *, page: int = 1, page_size: int = 100) -> dict:
        """One page of the run's network log: {count, ..., results: [{seq, method, url, ...}]}."""
        path = f"/workspace-runs/{run_id}/network"
        return self._call("GET", path, params={"page": page, "pageSize": page_size}).json()

    def get_events_ndjson(self, run_id: str, *, wait: float = 30.0) -> bytes:
        """The whole event log, one event JSON per line: the exact bytes whose sha256 is the
        bundle's `events.sha256` and the Statement's `events.ndjson` subject."""
        return self._get_ready(f"/workspace-runs/{run_id}/events.ndjson", wait).content

    def get_evidence_keys(self) -> list[dict]:
        """The signing keys' public halves, retired ones included: `[{keyid, algorithm,
        publicKeyPem, createdAt, retiredAt}]`."""
        return self._call("GET", "/evidence-keys").json()

    def _get_ready(self, path: str, wait: float) -> httpx.Response:
        """GET, retrying a 409 evidence_not_ready for up to `wait` seconds."""
        deadline = time.monotonic() + wait
        while True:
            try:
                return self._call("GET", path)
            except EvidenceNotReady:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.2)


def _write(resp: httpx.Response, dest: Path) -> None:
    with open(dest, "wb") as fh:
        for chunk in resp.iter_bytes():
            fh.write(chunk)


def _save(http: httpx.Client, url: str, dest: Path) -> Path:
    with http.stream("GET", url) as resp:
        if resp.status_code >= 300:
            raise StreamError(f"storage answered {resp.status_code} for the artifact's bytes")
        _write(resp, dest)
    return dest


def _parse_sse(lines: Iterator[str]) -> Iterator[Event]:
    """Minimal SSE parser: `data:` lines joined, dispatched on a blank line; comments skipped."""
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                yield Event.from_json(json.loads("\n".join(data)))
            data = []
        elif line.startswith(":"):
            continue
        else:
            key, _, value = line.partition(":")
            if key == "data":
                data.append(value[1:] if value.startswith(" ") else value)
