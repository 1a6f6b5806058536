"""REST views of staged transfers: thin, they parse, call a selector or a service, and render.

The chunk URL (uploadUrl) is the transfer's own URL: PUT appends a chunk, GET reads the state,
DELETE aborts."""

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import selectors
from ..errors import NotFound
from ..ids import iso
from ..intake import transfers
from ..models import Transfer
from .api import body_chunks, run_response, visible, visible_run
from .docs import TransferOut
from .inputs import CONTENT_RANGE, ChunkHeadersIn
from .schema import errors
from .serializers import RunOut, absolute


def transfer_json(request, transfer) -> dict:
    url = absolute(request, reverse("transfer", kwargs={"transfer_id": transfer.id}))
    return {
        "id": transfer.id,
        "runId": transfer.run_id,
        "uploadUrl": url,
        "chunkSizeBytes": transfer.chunk_size_bytes,
        "receivedBytes": transfer.received_bytes,
        "sizeBytes": transfer.size_bytes,
        "status": transfers.public_status(transfer),
        "expiresAt": iso(transfer.expires_at),
    }


def visible_transfer(request, transfer_id):
    """A transfer of a visible run; an aborted one is gone (DELETE removed it): 404."""
    transfer = visible(selectors.transfer_for, request, transfer_id, "transfer")
    if transfer.status == Transfer.Status.ABORTED:
        raise NotFound(
            "transfer",
            "This transfer was aborted and its data deleted; start a new one with "
            "POST .../workspace-runs/{id}/transfers.",
            {"status": transfer.status},
        )
    return transfer


CHUNK = OpenApiParameter(
    "Content-Range",
    str,
    OpenApiParameter.HEADER,
    required=True,
    pattern="^" + CONTENT_RANGE.pattern + "$",
    description="`bytes START-END/TOTAL` (END inclusive): START is receivedBytes, TOTAL the "
    "declared sizeBytes, every chunk but the last exactly chunkSizeBytes",
)


class TransferCollection(APIView):
    @extend_schema(
        operation_id="createTransfer",
        request=None,
        responses={201: TransferOut, **errors("invalid_state", "storage_unavailable")},
    )
    def post(self, request, run_id):
        transfer = transfers.transfer_create(run=visible_run(request, run_id))
        return Response(transfer_json(request, transfer), status=status.HTTP_201_CREATED)


class TransferDetail(APIView):
    parser_classes = []  # the chunk is read raw, in bounded pieces, never parsed

    @extend_schema(operation_id="getTransfer", responses={200: TransferOut})
    def get(self, request, transfer_id):
        return Response(transfer_json(request, visible_transfer(request, transfer_id)))

    @extend_schema(
        operation_id="putTransferChunk",
        parameters=[CHUNK],
        request={"application/octet-stream": OpenApiTypes.BINARY},
        responses={
            200: TransferOut,
            **errors("invalid_state", "transfer_offset_mismatch", "storage_unavailable"),
        },
    )
    def put(self, request, transfer_id):
        transfer = visible_transfer(request, transfer_id)
        headers = ChunkHeadersIn.checked(request)
        start, end, total = headers["contentRange"]
        transfer = transfers.transfer_put_chunk(
            transfer=transfer,
            start=start,
            end=end,
            total=total,
            chunks=body_chunks(request._request),
            content_length=headers.get("contentLength"),
        )
        return Response(transfer_json(request, transfer))

    @extend_schema(
        operation_id="abortTransfer",
        request=None,
        responses={
            204: OpenApiResponse(description="aborted, its data deleted (again: still 204)"),
            **errors("invalid_state"),
        },
    )
    def delete(self, request, transfer_id):
        transfer = visible(selectors.transfer_for, request, transfer_id, "transfer")
        transfers.transfer_abort(transfer=transfer)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TransferComplete(APIView):
    @extend_schema(
        operation_id="completeTransfer",
        request=None,
        responses={
            200: RunOut,
            **errors(
                "invalid_state",
                "transfer_incomplete",
                "unsupported_archive",
                "archive_digest_mismatch",
                "archive_size_mismatch",
                "archive_unsafe",
                "storage_unavailable",
            ),
        },
    )
    def post(self, request, transfer_id):
        run = transfers.transfer_complete(transfer=visible_transfer(request, transfer_id))
        return run_response(request, run)
