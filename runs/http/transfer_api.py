"""REST views of staged transfers: thin, they parse, call a selector or a service, and render.

The chunk URL (uploadUrl) is the transfer's own URL: PUT appends a chunk, GET reads the state,
DELETE aborts."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import selectors
from ..errors import NotFound
from ..intake import partlist, transfers
from ..models import Transfer
from ..roles import Action
from .api import body_chunks, run_response, visible, visible_run
from .inputs import CONTENT_RANGE, ChunkHeadersIn
from .inputs.transfer import MAX_PARTS, PartsQueryIn, TransferCompleteIn, TransferCreateIn
from .schema import errors
from .serializers import RunOut
from .transfer_out import TransferOut, TransferPartsOut, TransferShown, transfer_shown


def transfer_response(request, transfer, *, stored=None, code=status.HTTP_200_OK) -> Response:
    data = TransferOut(transfer_shown(transfer, stored=stored), context={"request": request}).data
    return Response(data, status=code)


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
        request=TransferCreateIn,
        responses={
            201: TransferOut,
            **errors("invalid_state", "storage_unavailable", "quota_exceeded"),
        },
    )
    def post(self, request, run_id):
        run = visible_run(request, run_id, Action.START)  # sending its archive
        body = TransferCreateIn(data=request.data)  # no body is {}; a JSON null is refused
        body.is_valid(raise_exception=True)
        transfer = transfers.transfer_create(run=run, mode=body.validated_data.get("mode"))
        return transfer_response(request, transfer, code=status.HTTP_201_CREATED)


class TransferDetail(APIView):
    parser_classes = []  # the chunk is read raw, in bounded pieces, never parsed

    @extend_schema(operation_id="getTransfer", responses={200: TransferOut})
    def get(self, request, transfer_id):
        transfer = visible_transfer(request, transfer_id)
        stored = partlist.transfer_stored_parts(transfer=transfer)
        return transfer_response(request, transfer, stored=stored)

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
        return transfer_response(request, transfer)

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
        request=TransferCompleteIn,
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
                "quota_exceeded",
            ),
        },
    )
    def post(self, request, transfer_id):
        transfer = visible_transfer(request, transfer_id)
        body = TransferCompleteIn(data=request.data)
        body.is_valid(raise_exception=True)
        run = transfers.transfer_complete(transfer=transfer, parts=body.validated_data.get("parts"))
        return run_response(request, run)


class TransferParts(APIView):
    @extend_schema(
        operation_id="getTransferParts",
        parameters=[
            OpenApiParameter(
                "from",
                {"type": "integer", "minimum": 1, "maximum": MAX_PARTS},
                OpenApiParameter.QUERY,
                description="the first part number of the page (default 1; at most partCount)",
            )
        ],
        responses={200: TransferPartsOut, **errors("invalid_state", "storage_unavailable")},
    )
    def get(self, request, transfer_id):
        transfer = visible_transfer(request, transfer_id)
        first = PartsQueryIn.checked(request)
        parts, next_from = partlist.transfer_part_urls(transfer=transfer, first=first)
        page = TransferShown(
            transfer,
            transfer.status,
            transfer.received_bytes,
            parts=parts,
            next_from=next_from,
            stored_parts=partlist.transfer_stored_parts(transfer=transfer),
        )
        return Response(TransferPartsOut(page).data)
