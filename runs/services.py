"""Everything that changes a run from the API side: create, archive, start, cancel."""

import os
import re
import tempfile
import uuid

from django.conf import settings
from django.core.files import File
from django.core.files.storage import storages
from django.db import transaction
from django.utils import timezone

from . import archives, events, lifecycle
from .errors import ApiError, invalid_state
from .models import Membership, Run, Team

S = Run.Status
ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def storage():
    return storages["default"]


def _bad(field: str, message: str) -> ApiError:
    return ApiError(
        400, "invalid_request", "The request body is not valid.", {"fields": {field: [message]}}
    )


def _check_text(field: str, value: str, limit: int) -> None:
    if "\x00" in value:
        raise _bad(field, "must not contain NUL bytes")
    if len(value.encode()) > limit:
        raise _bad(field, f"is longer than {limit} bytes")


def validate_command(command) -> None:
    if isinstance(command, str):
        if not command.strip():
            raise _bad("command", "must not be empty")
        _check_text("command", command, settings.CROWNEST_MAX_COMMAND_BYTES)
    elif isinstance(command, list) and command and all(isinstance(a, str) for a in command):
        for arg in command:
            _check_text("command", arg, settings.CROWNEST_MAX_COMMAND_BYTES)
        if not command[0]:
            raise _bad("command", "the program name must not be empty")
    else:
        raise _bad("command", "must be a string or a non-empty list of strings")


def validate_artifact_paths(paths) -> None:
    if len(paths) > settings.CROWNEST_MAX_ARTIFACT_PATHS:
        raise _bad("artifactPaths", f"at most {settings.CROWNEST_MAX_ARTIFACT_PATHS} paths")
    for path in paths:
        _check_text("artifactPaths", path, 1024)
        parts = path.replace("\\", "/").split("/")
        if not path.strip() or path.startswith("/") or ".." in parts:
            raise _bad("artifactPaths", f"{path!r} must be a relative path inside /workspace")


def validate_env(env) -> None:
    if len(env) > settings.CROWNEST_MAX_ENV:
        raise _bad("env", f"at most {settings.CROWNEST_MAX_ENV} variables")
    for key, value in env.items():
        if not ENV_KEY.match(key):
            raise _bad("env", f"{key!r} is not a valid variable name")
        if not isinstance(value, str):
            raise _bad("env", f"{key}: values must be strings")
        _check_text("env", value, 32 * 1024)


def run_create(
    *,
    owner,
    template: str,
    command,
    archive: dict,
    artifact_paths: list[str] | None = None,
    timeout_seconds: int | None = None,
    keep_sandbox: bool = False,
    env: dict | None = None,
    team: str | None = None,
    client: str = "",
) -> Run:
    if template not in settings.CROWNEST_TEMPLATES:
        raise _bad("template", f"unknown template {template!r}; GET /api/v1/templates lists them")
    validate_command(command)
    artifact_paths = artifact_paths or []
    validate_artifact_paths(artifact_paths)
    env = env or {}
    validate_env(env)
    timeout = settings.CROWNEST_DEFAULT_TIMEOUT if timeout_seconds is None else timeout_seconds
    if not 1 <= timeout <= settings.CROWNEST_MAX_TIMEOUT:
        raise _bad("timeoutSeconds", f"must be between 1 and {settings.CROWNEST_MAX_TIMEOUT}")
    size = archive["size_bytes"]
    if size > settings.CROWNEST_ARCHIVE_LIMIT:
        raise ApiError(
            413,
            "archive_too_large",
            "The archive is larger than this service accepts.",
            {"limitBytes": settings.CROWNEST_ARCHIVE_LIMIT, "sizeBytes": size},
        )
    team_obj = None
    if team:
        team_obj = Team.objects.filter(slug=team).first()
        if team_obj is None or not (
            owner.is_staff or Membership.objects.filter(team=team_obj, user=owner).exists()
        ):
            raise _bad("team", "you are not a member of this team")
    with transaction.atomic():
        run = Run.objects.create(
            owner=owner,
            team=team_obj,
            template=template,
            command=command,
            artifact_paths=artifact_paths,
            timeout_seconds=timeout,
            keep_sandbox=keep_sandbox,
            env=env,
            client=client[:200],
            archive_size_bytes=size,
            archive_sha256=archive["sha256"].lower(),
            archive_filename=archive.get("filename") or "",
        )
        events.append(run.id, [("status", {"status": S.AWAITING_ARCHIVE, "previous": None})])
    run.refresh_from_db()
    return run


class ArchiveProgress:
    """Turns byte counts into archive_progress events, at most one per step of the total."""

    def __init__(self, run_id: str, phase: str, total: int, steps: int = 10):
        self.run_id, self.phase, self.total = run_id, phase, total
        self.step = max(total // steps, 1)
        self.next = self.step

    def __call__(self, done: int, files: int | None = None, force: bool = False) -> None:
        if done < self.next and not force:
            return
        self.next = (done // self.step + 1) * self.step
        data = {"phase": self.phase, "bytesDone": done, "bytesTotal": self.total}
        if files is not None:
            data["filesDone"] = files
        events.append(self.run_id, [("archive_progress", data)])


def archive_limits() -> archives.ArchiveLimits:
    return archives.ArchiveLimits(
        max_members=settings.CROWNEST_ARCHIVE_MAX_MEMBERS,
        max_expanded_bytes=settings.CROWNEST_ARCHIVE_MAX_EXPANDED,
        max_path_length=settings.CROWNEST_ARCHIVE_MAX_PATH,
    )


def _direct_limit_error(size: int) -> ApiError:
    return ApiError(
        413,
        "archive_too_large",
        "The archive is over the direct-upload limit; use a staged transfer.",
        {
            "limitBytes": settings.CROWNEST_DIRECT_UPLOAD_LIMIT,
            "sizeBytes": size,
            "useStagedTransfer": True,
        },
    )


def archive_upload(*, run: Run, chunks, content_length: int | None = None) -> Run:
    """Direct upload: stream the body to a temp file while hashing, verify, check every member,
    then store it and mark the run ready. Any failure leaves the run awaiting_archive."""
    lifecycle.require(run, S.READY)
    limit = settings.CROWNEST_DIRECT_UPLOAD_LIMIT
    for size in (run.archive_size_bytes, content_length or 0):
        if size > limit:
            raise _direct_limit_error(size)
    tmp_dir = settings.MEDIA_ROOT / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(dir=tmp_dir, suffix=".tar.gz")
    try:
        progress = ArchiveProgress(run.id, "upload", run.archive_size_bytes)
        with os.fdopen(fd, "wb") as out:
            try:
                received = archives.receive_stream(
                    chunks, out, max_bytes=limit, on_progress=progress
                )
            except archives.ArchiveError as exc:
                if exc.code == "archive_too_large":
                    raise _direct_limit_error(run.archive_size_bytes) from exc
                raise
        progress(received.size_bytes, force=True)
        return archive_accept(run=run, path=tmp_path, received=received, method="direct")
    finally:
        if os.path.exists(tmp_path):
            os.unlink(tmp_path)


def archive_accept(*, run: Run, path: str, received: archives.ReceivedFile, method: str) -> Run:
    """Verify a fully received archive file and make it the run's archive."""
    archives.check_declared(received, size_bytes=run.archive_size_bytes, sha256=run.archive_sha256)
    verify = ArchiveProgress(run.id, "verify", received.size_bytes, steps=4)
    with open(path, "rb") as fh:
        info = archives.inspect_archive(
            fh, limits=archive_limits(), on_progress=lambda members, done: verify(done, members)
        )
    verify(received.size_bytes, info.file_count, force=True)
    name = f"archives/{run.id}/{uuid.uuid4().hex}.tar.gz"
    with open(path, "rb") as fh:
        stored = storage().save(name, File(fh, name=os.path.basename(name)))
    return archive_ready(run=run, stored=stored, method=method, info=info)


def archive_ready(*, run: Run, stored: str, method: str, info: archives.ArchiveInfo) -> Run:
    """Make a stored, verified archive the run's; if the run moved on meanwhile, drop it."""
    moved = lifecycle.transition(
        run.id,
        S.READY,
        archive_file=stored,
        archive_upload_method=method,
        archive_verified_at=timezone.now(),
        archive_file_count=info.file_count,
        archive_expanded_bytes=info.expanded_bytes,
    )
    if not moved:
        storage().delete(stored)
        run.refresh_from_db()
        raise invalid_state(lifecycle.InvalidTransition(run.status, lifecycle.allowed_for(S.READY)))
    run.refresh_from_db()
    return run


def run_start(*, run: Run) -> Run:
    from .tasks import execute_run

    if run.status == S.AWAITING_ARCHIVE:
        raise ApiError(409, "archive_required", "Upload and verify an archive before starting.")
    lifecycle.require(run, S.QUEUED)
    active = Run.objects.filter(owner=run.owner, status__in=[S.QUEUED, S.RUNNING]).count()
    if active >= settings.CROWNEST_MAX_ACTIVE_RUNS:
        raise ApiError(
            429,
            "throttled",
            "Too many active runs; wait for one to finish.",
            {"activeRuns": active, "limit": settings.CROWNEST_MAX_ACTIVE_RUNS},
        )
    with transaction.atomic():
        if not lifecycle.transition(run.id, S.QUEUED):
            run.refresh_from_db()
            lifecycle.require(run, S.QUEUED)
        execute_run.delay_on_commit(run.id)
    run.refresh_from_db()
    return run


def run_cancel(*, run: Run) -> Run:
    """Before the sandbox exists the run ends here; while running, the worker that owns it sees
    the request within a second, kills the container and ends the run."""
    from evidence.services import evidence_build

    if run.is_terminal:
        raise invalid_state(
            lifecycle.InvalidTransition(run.status, lifecycle.allowed_for(S.CANCELED))
        )
    if lifecycle.transition(run.id, S.CANCELED, expect=[S.AWAITING_ARCHIVE, S.READY, S.QUEUED]):
        evidence_build(run_id=run.id)
    else:
        Run.objects.filter(pk=run.id, status=S.RUNNING, cancel_requested_at__isnull=True).update(
            cancel_requested_at=timezone.now()
        )
    run.refresh_from_db()
    if run.is_terminal and run.status != S.CANCELED:
        raise invalid_state(
            lifecycle.InvalidTransition(run.status, lifecycle.allowed_for(S.CANCELED))
        )
    return run
