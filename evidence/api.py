from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from runs.api import visible_run
from runs.errors import ApiError

from .models import EvidenceBundle


class RunEvidence(APIView):
    @extend_schema(operation_id="getEvidence", responses={200: dict})
    def get(self, request, run_id):
        run = visible_run(request, run_id)
        bundle = EvidenceBundle.objects.filter(run=run).first()
        if bundle is None:
            raise ApiError(
                409,
                "evidence_not_ready",
                "The Evidence Bundle is written after the run ends.",
                {"status": run.status},
            )
        resp = Response(bundle.data)
        resp["ETag"] = f'"{bundle.sha256}"'
        resp["X-Evidence-Sha256"] = bundle.sha256
        return resp
