"""POST /api/v1/workspace-runs/{id}/rerun: the same run again, as a new run of the caller."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.views import APIView

from .. import services
from ..roles import Action
from .api import run_response, visible_run
from .schema import errors
from .serializers import RunOut


class RunRerun(APIView):
    @extend_schema(
        operation_id="rerunRun",
        request=None,
        # 400: the caller left the original's team; 413: the archive limit shrank since.
        # 409: the original's template version is retired.
        # 429: too many runs awaiting their archive (CROWNEST_MAX_AWAITING_ARCHIVE).
        responses={
            201: RunOut,
            **errors("invalid_request", "archive_too_large", "invalid_state", "throttled"),
        },
        description=(
            "A new run with the original's template, command, archive, artifactPaths, "
            "timeoutSeconds, env and team; `rerunOf` names the original. It is `ready` at once "
            "while the original's archive is still stored (shared, not copied; "
            '`archive.uploadMethod: "reused"`), otherwise `awaiting_archive`.'
        ),
    )
    def post(self, request, run_id):
        run = services.run_rerun(
            run=visible_run(request, run_id, Action.RERUN),
            user=request.user,
            client=request.META.get("HTTP_USER_AGENT", ""),
        )
        return run_response(request, run, status.HTTP_201_CREATED)
