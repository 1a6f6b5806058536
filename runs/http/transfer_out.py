"""Staged transfers as the API shows them: TransferOut builds a transfer's answer, TransferPartsOut
a page of a presigned transfer's part URLs. `transfer_shown` gathers what they show besides the
row (the status a client sees, the part page, the parts storage holds)."""

from dataclasses import dataclass, field

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import SkipField

from ..intake import partlist, presigned, transfers
from ..models import Transfer
from .shapes import Timestamp, absolute, named, nullable


@dataclass
class TransferShown:
    transfer: Transfer
    status: str
    received_bytes: int
    parts: list = field(default_factory=list)  # part URLs: [{partNumber, url, start, end}]
    next_from: int | None = None
    stored_parts: list = field(default_factory=list)  # [{partNumber, sizeBytes, etag}]

    @property
    def part_count(self) -> int:
        return presigned.part_count(self.transfer)


def transfer_shown(transfer: Transfer, *, stored: list | None = None) -> TransferShown:
    """A presigned transfer also carries its first page of part URLs while open and, when
    `stored` is given (GET), the parts storage already holds, which are then its receivedBytes."""
    status = transfers.public_status(transfer)
    shown = TransferShown(transfer, status, transfer.received_bytes)
    if transfer.mode != Transfer.Mode.PRESIGNED:
        return shown
    if status == Transfer.Status.OPEN:
        shown.parts, shown.next_from = partlist.transfer_part_urls(transfer=transfer)
        if stored is not None:
            shown.received_bytes = sum(p["sizeBytes"] for p in stored)
    shown.stored_parts = stored or []
    return shown


class PresignedOnly:
    """A field of presigned transfers only: absent (not null) from a chunked transfer's answer."""

    def get_attribute(self, shown: TransferShown):
        if shown.transfer.mode != Transfer.Mode.PRESIGNED:
            raise SkipField()
        return super().get_attribute(shown)


class PresignedInt(PresignedOnly, serializers.IntegerField):
    pass


class PresignedList(PresignedOnly, serializers.ListField):
    pass


@named("PartUrl")
class PartUrlOut(serializers.Serializer):
    partNumber = serializers.IntegerField(min_value=1)
    url = serializers.URLField(help_text="PUT the bytes start..end here, with no Authorization")
    start = serializers.IntegerField(min_value=0)
    end = serializers.IntegerField(min_value=0, help_text="inclusive")


@named("StoredPart")
class StoredPartOut(serializers.Serializer):
    partNumber = serializers.IntegerField(min_value=1)
    sizeBytes = serializers.IntegerField(min_value=0)
    etag = serializers.CharField()


@named("Transfer")
class TransferOut(serializers.Serializer):
    id = serializers.CharField(source="transfer.id")
    runId = serializers.CharField(source="transfer.run_id")
    mode = serializers.ChoiceField(
        choices=Transfer.Mode.choices,
        source="transfer.mode",
        help_text="`chunked`: PUT chunks to uploadUrl; `presigned`: PUT parts to their urls",
    )
    uploadUrl = serializers.SerializerMethodField(
        help_text="PUT each chunk here, with Content-Range"
    )
    chunkSizeBytes = serializers.IntegerField(
        min_value=1,
        source="transfer.chunk_size_bytes",
        help_text="the chunk size, or for presigned the part size",
    )
    receivedBytes = serializers.IntegerField(
        min_value=0, source="received_bytes", help_text="resume from here"
    )
    sizeBytes = serializers.IntegerField(min_value=1, source="transfer.size_bytes")
    status = serializers.ChoiceField(choices=Transfer.Status.choices)
    expiresAt = Timestamp(source="transfer.expires_at")
    partCount = PresignedInt(
        min_value=1, source="part_count", required=False, help_text="presigned only"
    )
    parts = PresignedList(
        child=PartUrlOut(), required=False, help_text="presigned only: the first page"
    )
    nextFrom = PresignedInt(
        allow_null=True,
        source="next_from",
        required=False,
        help_text="presigned only: GET .../parts?from=N for the next page; null when none",
    )
    storedParts = PresignedList(
        child=StoredPartOut(),
        source="stored_parts",
        required=False,
        help_text="presigned only: the parts storage holds (GET)",
    )

    @extend_schema_field(OpenApiTypes.URI)
    def get_uploadUrl(self, shown: TransferShown) -> str:
        where = reverse("transfer", kwargs={"transfer_id": shown.transfer.id})
        return absolute(self.context.get("request"), where)


@named("TransferParts")
class TransferPartsOut(serializers.Serializer):
    transferId = serializers.CharField(source="transfer.id")
    parts = serializers.ListField(child=PartUrlOut())
    nextFrom = nullable(
        serializers.IntegerField,
        source="next_from",
        help_text="the next page's from; null if none",
    )
    storedParts = serializers.ListField(child=StoredPartOut(), source="stored_parts")
    expiresAt = Timestamp(source="transfer.expires_at")
