"""REST views: thin, they parse, call a selector or a service, and render."""

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import selectors, services
from ..errors import InvalidRequest, NotFound, UnsupportedArchive
from ..intake.upload import archive_upload
from ..roles import Action, run_require
from .event_out import EventPageOut, EventsRenderer, event_window
from .inputs import EventsQueryIn, RunCreateIn, RunListQueryIn, RunUpdateIn
from .pagination import page_of, paged
from .schema import ARCHIVE_REQUEST, errors
from .serializers import RunOut

RunPageOut = paged("RunPage", RunOut(many=True))

RAW_ARCHIVE_TYPES = {
    "application/gzip",
    "application/x-gzip",
    "application/x-tar+gzip",
    "application/octet-stream",
    "application/x-compressed-tar",
}


def visible(find, request, obj_id: str, what: str):
    """The object if this user may see it; otherwise 404, whether it exists or not."""
    obj = find(request.user, obj_id)  # the selector refuses what is not an id (ids.id_ok)
    if obj is None:
        raise NotFound(what)
    return obj


def visible_run(request, run_id, action: Action = Action.VIEW):
    """The run if this user may see it (else 404) and may do `action` to it (else 403): who may
    do what is runs/roles.py's one table."""
    run = visible(selectors.run_for, request, run_id, "run")
    if action is not Action.VIEW:  # seeing it is what run_for checked
        run_require(user=request.user, run=run, action=action)
    return run


def run_response(request, run, code=status.HTTP_200_OK):
    return Response(RunOut(run, context={"request": request}).data, status=code)


class RunCollection(APIView):
    @extend_schema(
        operation_id="listRuns", parameters=[RunListQueryIn], responses={200: RunPageOut}
    )
    def get(self, request):
        query = RunListQueryIn(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        q = query.validated_data
        qs = (
            selectors.run_list(
                request.user,
                status=",".join(q.get("status") or []),
                template=q.get("template"),
                team=q.get("team"),
                owner=q.get("owner"),
            )
            .select_related("evidence", "network")
            .prefetch_related("artifacts")
        )
        page = page_of(request, qs, q["page"], q["pageSize"])
        return Response(RunPageOut(page, context={"request": request}).data)

    @extend_schema(
        operation_id="createRun",
        request=RunCreateIn,
        # 404: no template of that name, or a replayOf the caller cannot see; 409: the template
        # is not ready (building, failed, retired), egress off, or a replayOf with nothing (left)
        # to replay; 400: network "allowlist" on a template that allows nothing; 429: too many
        # runs awaiting their archive (maxAwaitingArchive); stored bytes used up.
        responses={
            201: RunOut,
            **errors(
                "not_found", "archive_too_large", "invalid_state", "throttled", "quota_exceeded"
            ),
        },
        description="A new run, `awaiting_archive` (or `ready` at once when a stored archive "
        "is reused). A `template` naming no template answers 404 `not_found`, like any "
        "unknown id; one that is not ready answers 409 `invalid_state`.",
    )
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
    @extend_schema(operation_id="getRun", responses={200: RunOut})
    def get(self, request, run_id):
        return run_response(request, visible_run(request, run_id))

    @extend_schema(
        operation_id="updateRun",
        request=RunUpdateIn,
        responses={200: RunOut, **errors("forbidden")},
        description="Pin or unpin a run (its owner, a lead of its team, or staff): retention "
        "keeps a pinned run's archive and artifacts.",
    )
    def patch(self, request, run_id):
        run = visible_run(request, run_id)
        body = RunUpdateIn(data=request.data)
        body.is_valid(raise_exception=True)
        if "pinned" in body.validated_data:  # an empty PATCH changes nothing
            run_require(user=request.user, run=run, action=Action.PIN)
            run = services.run_pin(run=run, pinned=body.validated_data["pinned"])
        return run_response(request, run)

    @extend_schema(
        operation_id="deleteRun",
        request=None,
        responses={
            204: OpenApiResponse(description="the run is gone: every call about it answers 404"),
            **errors("forbidden", "invalid_state"),
        },
        description="Delete a run that never started (`awaiting_archive` or `ready`), with its "
        "events and any transfer's data; its owner, a lead of its team, or staff. A run that "
        "started keeps its event log and Evidence Bundle for good (409 `invalid_state`).",
    )
    def delete(self, request, run_id):
        run = visible_run(request, run_id, Action.DELETE)
        services.run_delete(run=run, unstarted_only=True)
        return Response(status=status.HTTP_204_NO_CONTENT)


def body_chunks(stream, size=settings.CROWNEST_UPLOAD_CHUNK):
    """A request body read in bounded pieces, never whole."""
    while chunk := stream.read(size):
        yield chunk


class RunArchive(APIView):
    parser_classes = [MultiPartParser, JSONParser]

    @extend_schema(
        operation_id="uploadArchive",
        request=ARCHIVE_REQUEST,
        responses={
            200: RunOut,
            **errors(
                "invalid_state",
                "archive_too_large",
                "unsupported_archive",
                "archive_digest_mismatch",
                "archive_size_mismatch",
                "archive_unsafe",
                "quota_exceeded",
            ),
        },
        description="The archive's bytes (a .tar.gz), or a multipart form with the file in "
        "field `archive`. Checked against the declared sizeBytes and sha256, then member by "
        "member, before the run is `ready`; any refusal leaves it `awaiting_archive`.",
    )
    def put(self, request, run_id):
        run = visible_run(request, run_id, Action.START)
        ctype = request.content_type.split(";")[0].strip().lower()
        length = int(request.META.get("CONTENT_LENGTH") or 0)
        if ctype == "multipart/form-data":
            upload = request.FILES.get("archive")
            if upload is None:
                raise InvalidRequest.field(
                    "archive",
                    "a file in field 'archive' is required",
                    "The form has no file in field 'archive': send the .tar.gz as that field.",
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


class RunStart(APIView):
    @extend_schema(
        operation_id="startRun",
        request=None,
        responses={
            202: RunOut,
            **errors("invalid_state", "archive_required", "throttled", "quota_exceeded"),
        },
    )
    def post(self, request, run_id):
        run = services.run_start(run=visible_run(request, run_id, Action.START))
        return run_response(request, run, status.HTTP_202_ACCEPTED)


class RunCancel(APIView):
    @extend_schema(
        operation_id="cancelRun",
        request=None,
        responses={202: RunOut, **errors("invalid_state")},
    )
    def post(self, request, run_id):
        run = services.run_cancel(run=visible_run(request, run_id, Action.CANCEL))
        return run_response(request, run, status.HTTP_202_ACCEPTED)


class RunEvents(APIView):
    renderer_classes = [EventsRenderer]

    @extend_schema(
        operation_id="listEvents",
        parameters=[EventsQueryIn],
        responses={200: EventPageOut},
    )
    def get(self, request, run_id):
        run = visible_run(request, run_id)
        query = EventsQueryIn(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        after, limit = query.validated_data["afterSeq"], query.validated_data["limit"]
        window = event_window(run, after, limit)
        return Response(EventPageOut(window).data)
