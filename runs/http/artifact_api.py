"""Artifacts: a run's list, one artifact's metadata, and its bytes."""

from django.conf import settings
from django.http import FileResponse, HttpResponse, HttpResponseRedirect
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import selectors
from ..blobs import presigned_get, storage
from ..errors import ArtifactExpired
from ..ids import iso
from .api import visible, visible_run
from .negotiation import AnyAccept
from .schema import DOWNLOAD_HEADERS, errors
from .serializers import ArtifactOut


class RunArtifacts(APIView):
    @extend_schema(operation_id="listArtifacts", responses={200: ArtifactOut(many=True)})
    def get(self, request, run_id):
        run = visible_run(request, run_id)
        data = ArtifactOut(run.artifacts.all(), many=True, context={"request": request}).data
        return Response(data)


def visible_artifact(request, artifact_id):
    return visible(selectors.artifact_for, request, artifact_id, "artifact")


class ArtifactDetail(APIView):
    @extend_schema(operation_id="getArtifact", responses={200: ArtifactOut})
    def get(self, request, artifact_id):
        artifact = visible_artifact(request, artifact_id)
        return Response(ArtifactOut(artifact, context={"request": request}).data)


class ArtifactDownload(APIView):
    content_negotiation_class = AnyAccept

    @extend_schema(
        operation_id="downloadArtifact",
        parameters=[
            OpenApiParameter(
                "If-None-Match",
                str,
                OpenApiParameter.HEADER,
                description='the artifact\'s ETag (`"<sha256>"`) from an earlier download',
            ),
            *DOWNLOAD_HEADERS,
        ],
        responses={
            (200, "*/*"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="the file, as its own content type (the artifact's contentType)",
            ),
            304: OpenApiResponse(description="If-None-Match named this artifact's ETag"),
            **errors("artifact_expired"),
            302: OpenApiResponse(
                description="with CROWNEST_ARTIFACT_REDIRECT and object storage: Location is "
                "a short-lived presigned URL of the bytes (follow it without Authorization)"
            ),
        },
    )
    def get(self, request, artifact_id):
        artifact = visible_artifact(request, artifact_id)
        if artifact.expired_at is not None or not artifact.file:
            raise ArtifactExpired(
                f"The bytes of artifact {artifact.id} ({artifact.path}) were removed by "
                "retention; its metadata and the run's evidence remain. Pin runs whose "
                "artifacts must be kept.",
                {"artifactId": artifact.id, "expiredAt": iso(artifact.expired_at)},
            )
        etag = f'"{artifact.sha256}"'
        if request.META.get("HTTP_IF_NONE_MATCH") == etag:
            return HttpResponse(status=304, headers={"ETag": etag})
        name = artifact.path.rsplit("/", 1)[-1] or artifact.id
        if settings.CROWNEST_ARTIFACT_REDIRECT:
            # Checked like a download (visible, scoped) first: the URL is then the credential.
            url = presigned_get(
                artifact.file,
                filename=name,
                content_type=artifact.content_type,
                seconds=settings.CROWNEST_ARTIFACT_REDIRECT_SECONDS,
            )
            if url is not None:
                return HttpResponseRedirect(
                    url, headers={"ETag": etag, "Cache-Control": "private, no-store"}
                )
        resp = FileResponse(
            storage().open(artifact.file, "rb"),
            as_attachment=True,
            filename=name,
            content_type=artifact.content_type,
        )
        resp["ETag"] = etag
        resp["Content-Length"] = str(artifact.size_bytes)
        resp["X-Content-Type-Options"] = "nosniff"
        return resp
