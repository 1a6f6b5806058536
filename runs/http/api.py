"""REST views: thin, they parse, call a selector or a service, and render."""

from django.conf import settings
from django.http import FileResponse, HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import selectors, services
from ..blobs import storage
from ..errors import InvalidRequest, NotFound, UnsupportedArchive
from ..intake.upload import archive_upload
from ..stream.events import event_json
from .inputs import EventsQueryIn, RunCreateIn
from .serializers import ArtifactOut, RunOut, template_list

RAW_ARCHIVE_TYPES = {
    "application/gzip",
    "application/x-gzip",
    "application/x-tar+gzip",
    "application/octet-stream",
    "application/x-compressed-tar",
}


def visible(find, request, obj_id: str, what: str):
    """The object if this user may see it; otherwise 404, whether it exists or not."""
    obj = find(request.user, obj_id)
    if obj is None:
        raise NotFound(what)
    return obj


def visible_run(request, run_id):
    return visible(selectors.run_for, request, run_id, "run")


def run_response(request, run, code=status.HTTP_200_OK):
    return Response(RunOut(run, context={"request": request}).data, status=code)


class RunPages(PageNumberPagination):
    page_size = 20
    page_size_query_param = "pageSize"
    max_page_size = 100

    def get_paginated_response(self, data):
        return Response(
            {
                "count": self.page.paginator.count,
                "page": self.page.number,
                "pageSize": self.get_page_size(self.request),
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )


class RunCollection(APIView):
    @extend_schema(
        operation_id="listRuns",
        parameters=[OpenApiParameter(n, str) for n in ("status", "template", "team", "owner")]
        + [OpenApiParameter("page", int), OpenApiParameter("pageSize", int)],
        responses=RunOut(many=True),
    )
    def get(self, request):
        q = request.query_params
        qs = (
            selectors.run_list(
                request.user,
                status=q.get("status"),
                template=q.get("template"),
                team=q.get("team"),
                owner=q.get("owner"),
            )
            .select_related("evidence")
            .prefetch_related("artifacts")
        )
        pages = RunPages()
        page = pages.paginate_queryset(qs, request, view=self)
        return pages.get_paginated_response(
            RunOut(page, many=True, context={"request": request}).data
        )

    @extend_schema(operation_id="createRun", request=RunCreateIn, responses={201: RunOut})
    def post(self, request):
        body = RunCreateIn(data=request.data)
        body.is_valid(raise_exception=True)
        run = services.run_create(
            owner=request.user,
            client=request.META.get("HTTP_USER_AGENT", ""),
            **body.validated_data,
        )
        return run_response(request, run, status.HTTP_201_CREATED)


class RunDetail(APIView):
    @extend_schema(operation_id="getRun", responses=RunOut)
    def get(self, request, run_id):
        return run_response(request, visible_run(request, run_id))


def body_chunks(stream, size=settings.CROWNEST_UPLOAD_CHUNK):
    """A request body read in bounded pieces, never whole."""
    while chunk := stream.read(size):
        yield chunk


class RunArchive(APIView):
    parser_classes = [MultiPartParser, JSONParser]

    @extend_schema(
        operation_id="uploadArchive", request={"application/gzip": bytes}, responses=RunOut
    )
    def put(self, request, run_id):
        run = visible_run(request, run_id)
        ctype = request.content_type.split(";")[0].strip().lower()
        length = int(request.META.get("CONTENT_LENGTH") or 0)
        if ctype == "multipart/form-data":
            upload = request.FILES.get("archive")
            if upload is None:
                raise InvalidRequest.field(
                    "archive",
                    "a file in field 'archive' is required",
                    "Send the archive as the multipart field 'archive'.",
                )
            chunks = upload.chunks(settings.CROWNEST_UPLOAD_CHUNK)
            length = upload.size
        elif ctype in RAW_ARCHIVE_TYPES or not ctype:
            chunks = body_chunks(request._request)
        else:
            raise UnsupportedArchive(
                f"{ctype} is not an archive type: send the .tar.gz as application/gzip bytes "
                "or as the multipart field 'archive'.",
                {"contentType": ctype},
            )
        run = archive_upload(run=run, chunks=chunks, content_length=length)
        return run_response(request, run)

    @extend_schema(exclude=True)  # Some forms and proxies only send POST; PUT is documented.
    def post(self, request, run_id):
        return self.put(request, run_id)


class RunStart(APIView):
    @extend_schema(operation_id="startRun", request=None, responses={202: RunOut})
    def post(self, request, run_id):
        run = services.run_start(run=visible_run(request, run_id))
        return run_response(request, run, status.HTTP_202_ACCEPTED)


class RunCancel(APIView):
    @extend_schema(operation_id="cancelRun", request=None, responses={202: RunOut})
    def post(self, request, run_id):
        run = services.run_cancel(run=visible_run(request, run_id))
        return run_response(request, run, status.HTTP_202_ACCEPTED)


class RunEvents(APIView):
    @extend_schema(
        operation_id="listEvents",
        parameters=[OpenApiParameter("afterSeq", int), OpenApiParameter("limit", int)],
        responses={200: dict},
    )
    def get(self, request, run_id):
        run = visible_run(request, run_id)
        query = EventsQueryIn(data=request.query_params)
        query.is_valid(raise_exception=True)
        after, limit = query.validated_data["afterSeq"], query.validated_data["limit"]
        events = selectors.events_after(run.id, after, limit)
        last = events[-1].seq if events else after
        # Built from event_json so these bytes equal the SSE and websocket ones for each seq.
        terminal = run.terminal_seq is not None
        body = (
            '{"events":[' + ",".join(event_json(e) for e in events) + "],"
            f'"nextAfterSeq":{last},'
            f'"hasMore":{"true" if last < run.last_seq else "false"},'
            f'"terminal":{"true" if terminal and last >= run.terminal_seq else "false"}}}'
        )
        return HttpResponse(body, content_type="application/json")


class RunArtifacts(APIView):
    @extend_schema(operation_id="listArtifacts", responses=ArtifactOut(many=True))
    def get(self, request, run_id):
        run = visible_run(request, run_id)
        data = ArtifactOut(run.artifacts.all(), many=True, context={"request": request}).data
        return Response(data)


def visible_artifact(request, artifact_id):
    return visible(selectors.artifact_for, request, artifact_id, "artifact")


class ArtifactDetail(APIView):
    @extend_schema(operation_id="getArtifact", responses=ArtifactOut)
    def get(self, request, artifact_id):
        artifact = visible_artifact(request, artifact_id)
        return Response(ArtifactOut(artifact, context={"request": request}).data)


class ArtifactDownload(APIView):
    @extend_schema(operation_id="downloadArtifact", responses={200: bytes})
    def get(self, request, artifact_id):
        artifact = visible_artifact(request, artifact_id)
        etag = f'"{artifact.sha256}"'
        if request.META.get("HTTP_IF_NONE_MATCH") == etag:
            return HttpResponse(status=304)
        name = artifact.path.rsplit("/", 1)[-1] or artifact.id
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


class Templates(APIView):
    @extend_schema(operation_id="listTemplates", responses={200: dict})
    def get(self, request):
        return Response(template_list())
