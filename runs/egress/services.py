"""Services of a run's network: record the mode a run asked for, with the allow list it pins."""

from django.conf import settings

from ..errors import InvalidRequest, NetworkUnavailable, NotFound
from ..roles import runs_visible_to
from .models import RunNetwork
from .policy import egress_allow_validate


def run_network_set(*, run, mode: str, allow=(), replay_of=None) -> RunNetwork | None:
    """The run's network record (None and nothing stored for "none"). `allow` is validated
    strictly (AllowEntryError) and stored normalised: the run pins what it will run with."""
    if mode == RunNetwork.Mode.NONE:
        RunNetwork.objects.filter(run=run).delete()
        return None
    if mode not in RunNetwork.Mode.values:
        raise ValueError(f"unknown network mode {mode!r}")
    entries = egress_allow_validate(list(allow), max_entries=settings.CROWNEST_EGRESS_MAX_ALLOW)
    network, _ = RunNetwork.objects.update_or_create(
        run=run,
        defaults={
            "mode": mode,
            "allow": entries if mode == RunNetwork.Mode.ALLOWLIST else [],
            "replay_of": replay_of if mode == RunNetwork.Mode.REPLAY else None,
        },
    )
    return network


def template_egress_allow(version) -> list[str]:
    """The allow list a template version's recipe names (what its runs pin)."""
    return list(((version.recipe if version else None) or {}).get("egressAllow") or [])


def run_network_choose(*, run, user, mode: str, replay_of: str | None, version):
    """The network a new run asked for, checked: egress on here, a template that allows hosts,
    a replay of a visible run that recorded downloads still kept."""
    if mode == RunNetwork.Mode.NONE:
        return None
    if not settings.CROWNEST_EGRESS_ENABLED:
        raise NetworkUnavailable(
            f'Network "{mode}" is off on this installation (CROWNEST_EGRESS_ENABLED): runs '
            'here have no network; use "none".',
            {"network": mode},
        )
    if mode == RunNetwork.Mode.ALLOWLIST:
        allow = template_egress_allow(version)
        if not allow:
            raise InvalidRequest.field(
                "network",
                "needs a template that allows hosts",
                f"Template {run.template!r} allows no host (its egressAllow is empty), so an "
                '"allowlist" run could reach nothing; ask staff to list the hosts, or use "none".',
            )
        return run_network_set(run=run, mode=mode, allow=allow)
    return run_network_set(
        run=run, mode=mode, allow=[], replay_of=replayable(user=user, run_id=replay_of or "")
    )


def replayable(*, user, run_id: str):
    """The run a replay repeats: visible to `user` (404 otherwise), with downloads recorded and
    still kept (409 otherwise)."""
    original = runs_visible_to(user).filter(pk=run_id).first()
    if original is None:
        raise NotFound("run", f"No run {run_id!r} is visible to you, so it cannot be replayed.")
    network = RunNetwork.objects.filter(run=original).first()
    if network is None or network.mode == RunNetwork.Mode.NONE:
        raise NetworkUnavailable(
            f"Run {run_id} used no network: it recorded nothing to replay.", {"replayOf": run_id}
        )
    if network.recorded_at is None:
        raise NetworkUnavailable(
            f"Run {run_id} is {original.status}: its downloads are recorded when it ends; "
            "replay it then.",
            {"replayOf": run_id},
        )
    if network.bodies_expired_at is not None:
        raise NetworkUnavailable(
            f"The recording of run {run_id} has expired (retention removed its downloads); "
            "its digests stay in its evidence, but there is nothing left to replay.",
            {"replayOf": run_id},
        )
    return original


def rerun_network(original, mode: str | None) -> dict:
    """A rerun's network: the original's mode (a replay replays what the original replayed),
    or the one asked for; "replay" replays the original itself."""
    network = RunNetwork.objects.filter(run=original).first()
    if mode is None:
        mode = network.mode if network else RunNetwork.Mode.NONE
        replay_of = network.replay_of_id if network and mode == RunNetwork.Mode.REPLAY else None
        return {"network": mode, "replay_of": replay_of}
    return {"network": mode, "replay_of": original.id if mode == RunNetwork.Mode.REPLAY else None}
