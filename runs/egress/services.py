"""Services of a run's network: record the mode a run asked for, with the allow list it pins."""

from django.conf import settings

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
