"""REST views of staged transfers: thin, they parse, call a selector or a service, and render.

The chunk URL (uploadUrl) is the transfer's own URL: PUT appends a chunk, GET reads the state,
DELETE aborts."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import selectors
from ..ids import iso
from ..intake import transfers
from .api import body_chunks, run_response, visible, visible_run
from .inputs import ChunkHeadersIn
from .serializers import absolute


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
    return visible(selectors.transfer_for, request, transfer_id, "transfer")


class TransferCollection(APIView):
    @extend_schema(operation_id="createTransfer", request=None, responses={201: dict})
    def post(self, request, run_id):
        transfer = transfers.transfer_create(run=visible_run(request, run_id))
        return Response(transfer_json(request, transfer), status=status.HTTP_201_CREATED)


class TransferDetail(APIView):
    parser_classes = []  # the chunk is read raw, in bounded pieces, never parsed

    @extend_schema(operation_id="getTransfer", responses=dict)
    def get(self, request, transfer_id):
        return Response(transfer_json(request, visible_transfer(request, transfer_id)))

    @extend_schema(
        operation_id="putTransferChunk", request={"application/octet-stream": bytes}, responses=dict
    )
    def put(self, request, transfer_id):
        transfer = visible_transfer(request, transfer_id)
        headers = ChunkHeadersIn.from_request(request)
        headers.is_valid(raise_exception=True)
        start, end, total = headers.validated_data["contentRange"]
        transfer = transfers.transfer_put_chunk(
            transfer=transfer,
            start=start,
            end=end,
            total=total,
            chunks=body_chunks(request._request),
            content_length=headers.validated_data.get("contentLength"),
        )
        return Response(transfer_json(request, transfer))

    @extend_schema(operation_id="abortTransfer", request=None, responses={204: None})
    def delete(self, request, transfer_id):
        transfers.transfer_abort(transfer=visible_transfer(request, transfer_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class TransferComplete(APIView):
    @extend_schema(operation_id="completeTransfer", request=None, responses=dict)
    def post(self, request, transfer_id):
        run = transfers.transfer_complete(transfer=visible_transfer(request, transfer_id))
        return run_response(request, run)
