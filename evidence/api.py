from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from runs.api import visible_run
from runs.errors import ApiError

from . import reviews
from .services import evidence_for


class RunEvidence(APIView):
    @extend_schema(operation_id="getEvidence", responses={200: dict})
    def get(self, request, run_id):
        run = visible_run(request, run_id)
        bundle = evidence_for(run=run)
        resp = Response(bundle.data)
        resp["ETag"] = f'"{bundle.sha256}"'
        resp["X-Evidence-Sha256"] = bundle.sha256
        return resp


class RunReviews(APIView):
    """Reviews of a run's evidence. Anyone who sees the run reads them; leads and staff add one."""

    @extend_schema(operation_id="listReviews", responses={200: dict})
    def get(self, request, run_id):
        run = visible_run(request, run_id)
        return Response([reviews.review_json(r) for r in reviews.run_reviews(run)])

    @extend_schema(operation_id="createReview", request=dict, responses={201: dict})
    def post(self, request, run_id):
        run = visible_run(request, run_id)
        data = request.data if isinstance(request.data, dict) else {}
        verdict, comment = data.get("verdict"), data.get("comment", "")
        if not isinstance(comment, str) or not isinstance(verdict, str):
            raise ApiError(
                400,
                "invalid_request",
                "The request body is not valid.",
                {"fields": {"verdict": ["a string"], "comment": ["a string"]}},
            )
        review = reviews.review_create(
            run=run, reviewer=request.user, verdict=verdict, comment=comment
        )
        return Response(reviews.review_json(review), status=201)
