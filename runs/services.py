"""Everything that changes a run from the API side: create, start, cancel, rerun.

Input arrives validated in form (runs/http/inputs/); what is checked here are rules that depend
on stored state (the template exists and is ready, team membership, the caller's active runs, the
run's status)."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from . import lifecycle
from .blobs import storage
from .egress.services import rerun_network, run_network_choose
from .ending import Outcome, run_end
from .errors import (
    ArchiveRequired,
    ArchiveTooLarge,
    InvalidRequest,
    InvalidState,
    NotFound,
    Throttled,
)
from .intake.stores import store_for_default
from .models import Membership, Run, Team, Transfer
from .retention import ARCHIVE_EXPIRED, archive_expire
from .sandbox_templates.selectors import template_version_for_run, version_for_rerun
from .scheduling import quotas
from .scheduling.resources import resources_choose
from .shared_archives import (
    archive_release_on_commit,
    archive_share,
    blob_delete,
    reusable_archive,
)
from .stream import events
from .tasks import execute_run, finish_ending

S = Run.Status
# A run that never started has no event log worth keeping and no Evidence Bundle.
UNSTARTED = frozenset({S.AWAITING_ARCHIVE, S.READY})


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
    reuse_archive: bool = True,
    template_version=None,
    network: str = "none",
    replay_of: str | None = None,
    resources: dict | None = None,
) -> Run:
    """A new run awaiting its archive; `ready` at once (uploadMethod "reused") when the caller
    or one of their teams already has this archive stored (shared_archives.py), unless
    `reuse_archive` is False."""
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
    chosen = resources_choose(resources, template=version.template, team=team_obj)
    with transaction.atomic():
        quotas.create_check(owner=owner, team=team_obj, archive=archive)
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
            resources=chosen,
            client=client[:200],
            archive_size_bytes=size,
            archive_sha256=archive["sha256"].lower(),
            archive_filename=archive.get("filename") or "",
        )
        run_network_choose(run=run, user=owner, mode=network, replay_of=replay_of, version=version)
        events.append(run.id, [("status", {"status": S.AWAITING_ARCHIVE, "previous": None})])
    if reuse_archive:
        source = reusable_archive(user=owner, sha256=run.archive_sha256, size_bytes=size)
        if source is not None:
            archive_share(run_id=run.id, source=source)
    run.refresh_from_db()
    return run


def _lock_owner(owner_id: int) -> None:
    """Take the owner's user row for the rest of the transaction. Starts and creates of one
    owner then happen one at a time, so a count taken after this sees every run that an earlier
    one added: thirty concurrent starts cannot all count nineteen and all pass a cap of twenty.
    (NO KEY UPDATE: inserting a run that refers to the user is not blocked by it.)"""
    users = get_user_model().objects.select_for_update(no_key=True)
    list(users.filter(pk=owner_id).values_list("pk", flat=True))


def _active_cap(*, owner_id: int) -> None:
    """CROWNEST_MAX_ACTIVE_RUNS, counted under the owner's lock (inside the start's transaction)."""
    _lock_owner(owner_id)
    limit = settings.CROWNEST_MAX_ACTIVE_RUNS
    active = Run.objects.filter(owner_id=owner_id, status__in=[S.QUEUED, S.RUNNING]).count()
    if active >= limit:
        raise Throttled(
            f"You have {active} runs queued or running, the most allowed at once; start this "
            "one when one of them ends.",
            {"activeRuns": active, "limit": limit},
            retry_after=5,
        )


def archive_gone(run: Run) -> bool:
    """Whether a run's stored archive is not there (removed by retention, or lost)."""
    return not run.archive_file or not storage().exists(run.archive_file)


def _archive_expired(run: Run) -> ArchiveRequired:
    """A ready run whose archive is no longer stored goes back to awaiting_archive."""
    archive_expire(run.id)
    return ArchiveRequired(ARCHIVE_EXPIRED, {"status": S.AWAITING_ARCHIVE, "archiveExpired": True})


def run_start(*, run: Run) -> Run:
    if run.status == S.AWAITING_ARCHIVE:
        raise ArchiveRequired(
            "This run has no verified archive yet: upload it (PUT .../archive or a staged "
            "transfer), then start the run.",
            {"status": run.status},
        )
    lifecycle.require(run, S.QUEUED)
    if archive_gone(run):
        raise _archive_expired(run)
    quotas.minutes_check(owner=run.owner, team=run.team)
    with transaction.atomic():
        _active_cap(owner_id=run.owner_id)
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


def run_rerun(*, run: Run, user, client: str = "", network: str | None = None) -> Run:
    """A new run of `user` with the original's template version, command, archive, artifact paths,
    timeout, env and team; `rerun_of` names the original. While the original's verified archive
    is still stored the new run shares that stored file (no copy, no upload) and is ready at
    once; otherwise it awaits an upload of the same bytes (the same size and sha256)."""
    version = version_for_rerun(run)
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
            reuse_archive=False,
            **rerun_network(run, network),
        )
        # The original's resources as they were granted (a maximum lowered since does not
        # refuse the re-run of a run that was allowed).
        Run.objects.filter(pk=new.id).update(rerun_of=run, resources=run.resources or new.resources)
        stored = run.archive_verified_at and not archive_gone(run)
        if stored:
            archive_share(run_id=new.id, source=run)
    new.refresh_from_db()
    return new


def run_pin(*, run: Run, pinned: bool) -> Run:
    """Pin (or unpin) a run: a pinned run's archive and artifacts are kept by retention. Who may
    is runs/roles.py's (Action.PIN), checked by the caller."""
    Run.objects.filter(pk=run.id).update(pinned=pinned)
    run.refresh_from_db()
    return run


def run_delete(*, run: Run, unstarted_only: bool = False) -> None:
    """Delete a run (and its events, artifacts and transfers). Its stored archive is deleted
    only when no other run shares it; its artifacts' files are its own. `unstarted_only` (the
    API): only a run that never started, since a started run's event log and Evidence Bundle are
    kept for good; checked under the run's row lock, so a start cannot slip in between."""
    with transaction.atomic():
        if unstarted_only:
            locked = Run.objects.select_for_update().filter(pk=run.id)
            status = locked.values_list("status", flat=True).first()
            if status is None:  # deleted meanwhile
                raise NotFound("run")
            if status not in UNSTARTED:
                raise InvalidState(status, sorted(UNSTARTED), action="delete")
        names = list(run.artifacts.exclude(file="").values_list("file", flat=True))
        partial = run.transfers.exclude(status=Transfer.Status.COMPLETED)
        partial = list(partial.exclude(temp_name="", s3_upload_id=""))
        archive = run.archive_file
        run.delete()
        archive_release_on_commit(archive)
        for name in names:
            transaction.on_commit(lambda name=name: blob_delete(name))
        for transfer in partial:  # an unfinished transfer's data has no other owner
            transaction.on_commit(lambda t=transfer: store_for_default().discard(t))
