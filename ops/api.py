"""GET /api/v1/audit (staff only; anyone else gets 404, as for a page that does not exist)."""

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from runs.errors import NotFound
from runs.http.inputs.fields import INT32_MAX, NO_NUL, QueryInt, documented
from runs.http.pagination import page_of
from runs.http.schema import errors
from runs.http.serializers import Timestamp

from .models import AuditEntry

TEXT = {"type": "string", "pattern": NO_NUL, "maxLength": 150}


def _text(help_text: str):
    return documented(
        serializers.CharField,
        TEXT,
        required=False,
        allow_blank=True,
        max_length=150,
        help_text=help_text,
    )


class AuditQueryIn(serializers.Serializer):
    actor = _text("a username, or `system:<os user>` for a host's commands")
    action = _text("an action (`run.cancel`), or its family with a dot (`run.`)")
    objectType = _text("`run`, `template`, `token`, `evidence_key`, `user`, …")
    objectId = _text("the object's id")
    page = QueryInt(required=False, default=1, min_value=1, max_value=INT32_MAX)
    pageSize = QueryInt(required=False, default=50, min_value=1, max_value=200)


@extend_schema_serializer(component_name="AuditEntry")
class AuditOut(serializers.Serializer):
    id = serializers.IntegerField()
    at = Timestamp()
    actor = serializers.CharField(help_text="empty for a failed sign-in (details.username)")
    tokenId = serializers.IntegerField(source="token_id", allow_null=True)
    staff = serializers.BooleanField()
    address = serializers.CharField()
    userAgent = serializers.CharField(source="user_agent")
    action = serializers.CharField()
    objectType = serializers.CharField(source="object_type")
    objectId = serializers.CharField(source="object_id")
    outcome = serializers.CharField(help_text="`ok`, an error code, `failed`, `refused`, …")
    statusCode = serializers.IntegerField(source="status_code", allow_null=True)
    requestId = serializers.CharField(source="request_id")
    details = serializers.DictField()


class AuditPageOut(serializers.Serializer):
    count = serializers.IntegerField(min_value=0)
    page = serializers.IntegerField(min_value=1)
    pageSize = serializers.IntegerField(min_value=1, max_value=200)
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = AuditOut(many=True)


def audit_list(*, actor="", action="", object_type="", object_id=""):
    qs = AuditEntry.objects.all()
    if actor:
        qs = qs.filter(actor=actor)
    if action:
        qs = (
            qs.filter(action__startswith=action)
            if action.endswith(".")
            else qs.filter(action=action)
        )
    if object_type:
        qs = qs.filter(object_type=object_type)
    if object_id:
        qs = qs.filter(object_id=object_id)
    return qs


class AuditList(APIView):
    @extend_schema(
        operation_id="listAudit",
        parameters=[AuditQueryIn],
        responses={200: AuditPageOut, **errors("not_found")},
        description="The audit log, newest first (staff only; others get 404).",
    )
    def get(self, request):
        if not request.user.is_staff:
            raise NotFound("page", "No such page.")
        query = AuditQueryIn(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        q = query.validated_data
        qs = audit_list(
            actor=q.get("actor", ""),
            action=q.get("action", ""),
            object_type=q.get("objectType", ""),
            object_id=q.get("objectId", ""),
        )
        page = page_of(request, qs, q["page"], q["pageSize"])
        page["results"] = AuditOut(page["results"], many=True).data
        return Response(page)
