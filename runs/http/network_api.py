"""A run's network log: GET .../network (paginated JSON) and .../network.ndjson (the exact bytes
whose sha256 is the Evidence Bundle's network.logSha256)."""

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from ..egress.models import NetworkRequest
from ..egress.store import network_ndjson, request_dict
from ..errors import NetworkLogNotReady
from .api import visible_run
from .inputs.query import QueryInt
from .negotiation import AnyAccept
from .pagination import page_of


class NetworkQueryIn(serializers.Serializer):
    page = QueryInt(required=False, default=1, min_value=1, max_value=2**31 - 1)
    pageSize = QueryInt(required=False, default=100, min_value=1, max_value=1000)


@extend_schema_serializer(component_name="NetworkRequest")
class NetworkRequestOut(serializers.Serializer):
    seq = serializers.IntegerField(min_value=1)
    method = serializers.CharField()
    url = serializers.CharField(help_text="without userinfo; credential parameters REDACTED")
    status = serializers.IntegerField(allow_null=True, help_text="null when refused or failed")
    bytes = serializers.IntegerField(min_value=0)
    sha256 = serializers.CharField(help_text="of the body as delivered; empty when none")
    contentType = serializers.CharField()
    durationMs = serializers.IntegerField(min_value=0)
    decision = serializers.ChoiceField(choices=NetworkRequest.Decision.choices)
    reason = serializers.CharField(help_text="why it was refused (or failed); empty otherwise")


@extend_schema_serializer(component_name="NetworkPage")
class NetworkPageOut(serializers.Serializer):
    count = serializers.IntegerField(min_value=0)
    page = serializers.IntegerField(min_value=1)
    pageSize = serializers.IntegerField(min_value=1, max_value=1000)
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = NetworkRequestOut(many=True)


class RunNetworkLog(APIView):
    @extend_schema(
        operation_id="listNetworkRequests",
        parameters=[NetworkQueryIn],
        responses={200: NetworkPageOut},
        description="The run's requests through the egress proxy in seq order (stored when "
        "its command ends: empty before, and for a run without network).",
    )
    def get(self, request, run_id):
        run = visible_run(request, run_id)
        query = NetworkQueryIn(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        q = query.validated_data
        rows = NetworkRequest.objects.filter(run_id=run.id).order_by("seq")
        page = page_of(request, rows, q["page"], q["pageSize"])
        page["results"] = [request_dict(row) for row in page["results"]]
        return Response(page)


class RunNetworkExport(APIView):
    content_negotiation_class = AnyAccept

    @extend_schema(
        operation_id="exportNetworkLog",
        responses={
            (200, "application/x-ndjson"): OpenApiResponse(
                OpenApiTypes.STR,
                description="one NetworkRequest per line (sorted keys, no spaces), in seq "
                "order: the exact bytes whose sha256 is the bundle's network.logSha256",
            )
        },
    )
    def get(self, request, run_id):
        run = visible_run(request, run_id)
        if run.terminal_seq is None:
            raise NetworkLogNotReady(
                f"The network log is exported once the run has ended; this run is {run.status}.",
                {"status": run.status},
            )
        resp = StreamingHttpResponse(network_ndjson(run.id), content_type="application/x-ndjson")
        resp["Content-Disposition"] = f'attachment; filename="{run.id}-network.ndjson"'
        return resp
