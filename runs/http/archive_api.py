"""GET /api/v1/archives/{sha256}?sizeBytes=N: whether the caller could reuse a stored archive.

The answer covers only the caller's scope (their own runs and their teams'): for anyone else's
archive it is the same `known: false` as for an archive nobody has."""

import re

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from ..shared_archives import reusable_archive
from .errors import invalid_request
from .inputs import ArchiveLookupQueryIn
from .serializers import ArchiveLookupOut


class ArchiveLookup(APIView):
    @extend_schema(
        operation_id="lookupArchive",
        parameters=[
            OpenApiParameter(
                "sha256",
                str,
                OpenApiParameter.PATH,
                pattern="^[0-9a-fA-F]{64}$",
                description="the archive's sha256, 64 hex digits",
            ),
            ArchiveLookupQueryIn,
        ],
        responses={200: ArchiveLookupOut},
        description="Whether a new run with this archive (same sha256 and sizeBytes) would be "
        '`ready` at once, `uploadMethod: "reused"`: true only for an archive still stored for '
        "a run of yours or of a team you belong to.",
    )
    def get(self, request, sha256):
        if not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
            raise invalid_request({"sha256": ["must be 64 hex digits"]})
        query = ArchiveLookupQueryIn(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        size = query.validated_data["sizeBytes"]
        known = reusable_archive(user=request.user, sha256=sha256, size_bytes=size) is not None
        answer = {"sha256": sha256.lower(), "sizeBytes": size, "known": known}
        return Response(ArchiveLookupOut(answer).data)
