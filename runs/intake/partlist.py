"""What a client of a presigned transfer asks between create and complete: which parts storage
already holds (to resume), and more part URLs. Both read S3, never the web process's disk."""

from ..models import Transfer
from . import presigned
from .stores import StoreError, store_for_default
from .transfers import require_open, storage_error


def transfer_stored_parts(*, transfer: Transfer) -> list[dict]:
    """The parts stored so far ([] once the transfer is closed: its upload is gone)."""
    if transfer.mode != Transfer.Mode.PRESIGNED or transfer.status != Transfer.Status.OPEN:
        return []
    try:
        return presigned.stored_parts(store=store_for_default(), transfer=transfer)
    except StoreError as exc:
        raise storage_error(exc) from exc


def transfer_part_urls(*, transfer: Transfer, first: int = 1) -> tuple[list, int | None]:
    """A page of part URLs of an open presigned transfer; none for a chunked or closed one."""
    if transfer.mode != Transfer.Mode.PRESIGNED:
        return [], None
    require_open(transfer)
    return presigned.part_urls(store=store_for_default(), transfer=transfer, first=first)
