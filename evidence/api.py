from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from runs.http.api import visible_run

from . import reviews
from .serializers import ReviewIn
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

    @extend_schema(operation_id="createReview", request=ReviewIn, responses={201: dict})
    def post(self, request, run_id):
        run = visible_run(request, run_id)
        reviews.review_require(run=run, reviewer=request.user)
        body = ReviewIn(data=request.data)
        body.is_valid(raise_exception=True)
        review = reviews.review_create(run=run, reviewer=request.user, **body.validated_data)
        return Response(reviews.review_json(review), status=201)
