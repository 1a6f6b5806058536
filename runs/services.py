"""Everything that changes a run from the API side: create, start, cancel, rerun.

Input arrives validated (runs/http/serializers.py); what is checked here are rules that depend on
stored state (team membership, the caller's active runs, the run's status)."""

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from . import lifecycle
from .blobs import storage
from .ending import Outcome, run_end
from .errors import ArchiveRequired, ArchiveTooLarge, InvalidRequest, Throttled
from .models import Membership, Run, Team
from .stream import events
from .tasks import execute_run, finish_ending
from .template_services import template_version_for_run, version_for_rerun

S = Run.Status


def team_for(*, user, slug: str | None) -> Team | None:
    """The team a run is filed under; only one the caller belongs to (any, for staff)."""
    if not slug:
        return None
    team = Team.objects.filter(slug=slug).first()
    if team is None or not (
        user.is_staff or Membership.objects.filter(team=team, user=user).exists()
    ):
        raise InvalidRequest.field(
            "team", "is not a team you belong to", f"You are not a member of team {slug!r}."
        )
    return team


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
    template_version=None,
) -> Run:
    size = archive["size_bytes"]
    if size > settings.CROWNEST_ARCHIVE_LIMIT:
        raise ArchiveTooLarge(
            f"The archive ({size} bytes) is over this service's limit of "
            f"{settings.CROWNEST_ARCHIVE_LIMIT} bytes; leave build outputs and dependencies out.",
            {"limitBytes": settings.CROWNEST_ARCHIVE_LIMIT, "sizeBytes": size},
        )
    team_obj = team_for(user=owner, slug=team)
    version = template_version or template_version_for_run(template)
    timeout = settings.CROWNEST_DEFAULT_TIMEOUT if timeout_seconds is None else timeout_seconds
    with transaction.atomic():
        run = Run.objects.create(
            owner=owner,
            team=team_obj,
            template=template,
            template_version=version,
            image=version.image,
            image_digest=version.image_digest,
            command=command,
            artifact_paths=artifact_paths or [],
            timeout_seconds=timeout,
            keep_sandbox=keep_sandbox,
            env=env or {},
            client=client[:200],
            archive_size_bytes=size,
            archive_sha256=archive["sha256"].lower(),
            archive_filename=archive.get("filename") or "",
        )
        events.append(run.id, [("status", {"status": S.AWAITING_ARCHIVE, "previous": None})])
    run.refresh_from_db()
    return run


def run_start(*, run: Run) -> Run:
    if run.status == S.AWAITING_ARCHIVE:
        raise ArchiveRequired(
            "This run has no verified archive yet: upload it (PUT .../archive or a staged "
            "transfer), then start the run.",
            {"status": run.status},
        )
    lifecycle.require(run, S.QUEUED)
    active = Run.objects.filter(owner=run.owner, status__in=[S.QUEUED, S.RUNNING]).count()
    if active >= settings.CROWNEST_MAX_ACTIVE_RUNS:
        raise Throttled(
            f"You have {active} runs queued or running, the most allowed at once; start this "
            "one when one of them ends.",
            {"activeRuns": active, "limit": settings.CROWNEST_MAX_ACTIVE_RUNS},
            retry_after=5,
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
    if run.is_terminal:
        raise lifecycle.invalid(run.status, S.CANCELED)
    with transaction.atomic():
        ended = run_end(
            run.id,
            Outcome(S.CANCELED),
            expect=[S.AWAITING_ARCHIVE, S.READY, S.QUEUED],
            finish=False,
        )
        if ended is not None:
            finish_ending.delay_on_commit(run.id)
    if ended is None:
        Run.objects.filter(pk=run.id, status=S.RUNNING, cancel_requested_at__isnull=True).update(
            cancel_requested_at=timezone.now()
        )
    run.refresh_from_db()
    if run.is_terminal and run.status != S.CANCELED:
        raise lifecycle.invalid(run.status, S.CANCELED)
    return run


def run_rerun(*, run: Run, user, client: str = "") -> Run:
    """A new run of `user` with the original's template version, command, archive, artifact paths,
    timeout, env and team; `rerun_of` names the original. While the original's verified archive
    is still stored the new run shares that stored file (no copy, no upload) and is ready at
    once; otherwise it awaits an upload of the same bytes (the same size and sha256)."""
    version = version_for_rerun(run)
    stored = bool(run.archive_file and run.archive_verified_at)
    stored = stored and storage().exists(run.archive_file)
    with transaction.atomic():
        new = run_create(
            owner=user,
            template=run.template,
            template_version=version,
            command=run.command,
            archive={
                "size_bytes": run.archive_size_bytes,
                "sha256": run.archive_sha256,
                "filename": run.archive_filename,
            },
            artifact_paths=list(run.artifact_paths),
            timeout_seconds=run.timeout_seconds,
            env=dict(run.env),
            team=run.team.slug if run.team_id else None,
            client=client,
        )
        Run.objects.filter(pk=new.id).update(rerun_of=run)
        if stored:
            lifecycle.transition(
                new.id,
                S.READY,
                archive_file=run.archive_file,
                archive_upload_method="reused",
                archive_verified_at=timezone.now(),
                archive_file_count=run.archive_file_count,
                archive_expanded_bytes=run.archive_expanded_bytes,
            )
    new.refresh_from_db()
    return new
