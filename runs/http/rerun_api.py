"""POST /api/v1/workspace-runs/{id}/rerun: the same run again, as a new run of the caller."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.views import APIView

from .. import services
from ..roles import Action
from .api import run_response, visible_run
from .inputs.fields import named
from .schema import errors
from .serializers import RunOut


@named("RunRerun", additionalProperties=False)
class RerunIn(serializers.Serializer):
    network = serializers.ChoiceField(
        choices=["none", "allowlist", "replay"],
        required=False,
        help_text="the new run's network; \"replay\" replays this run's recorded downloads; "
        "left out: the original's (a replay replays what the original replayed)",
    )

    def validate(self, attrs):
        unknown = set(self.initial_data) - set(self.fields)
        if unknown:
            raise serializers.ValidationError({k: ["is not a rerun field"] for k in unknown})
        return attrs


class RunRerun(APIView):
    @extend_schema(
        operation_id="rerunRun",
        request=RerunIn,
        # 400: the caller left the original's team; 413: the archive limit shrank since.
        # 409: the original's template version is retired.
        # 429: too many runs awaiting their archive (maxAwaitingArchive), or stored bytes.
        responses={
            201: RunOut,
            **errors(
                "invalid_request",
                "not_found",
                "archive_too_large",
                "invalid_state",
                "throttled",
                "quota_exceeded",
            ),
        },
        description=(
            "A new run with the original's template, command, archive, artifactPaths, "
            "timeoutSeconds, env and team; `rerunOf` names the original. It is `ready` at once "
            "while the original's archive is still stored (shared, not copied; "
            '`archive.uploadMethod: "reused"`), otherwise `awaiting_archive`.'
        ),
    )
    def post(self, request, run_id):
        original = visible_run(request, run_id, Action.RERUN)
        body = RerunIn(data=request.data)  # no body is {}; anything but an object is refused
        body.is_valid(raise_exception=True)
        run = services.run_rerun(
            run=original,
            user=request.user,
            client=request.META.get("HTTP_USER_AGENT", ""),
            network=body.validated_data.get("network"),
        )
        return run_response(request, run, status.HTTP_201_CREATED)
