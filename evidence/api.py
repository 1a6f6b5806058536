import json

from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from runs.errors import EvidenceNotReady
from runs.http.api import visible_run
from runs.ids import iso

from . import reviews
from .attestation import sigstore_bundle
from .models import EvidenceKey
from .serializers import ReviewIn
from .services import attestation_for, events_ndjson, evidence_for


class RunEvidence(APIView):
    @extend_schema(operation_id="getEvidence", responses={200: dict})
    def get(self, request, run_id):
        run = visible_run(request, run_id)
        bundle = evidence_for(run=run)
        resp = Response(bundle.data)
        resp["ETag"] = f'"{bundle.sha256}"'
        resp["X-Evidence-Sha256"] = bundle.sha256
        return _download(resp, request, f"{run.id}-evidence.json")


class AnyAccept(BaseContentNegotiation):
    """These documents have one form; a client's Accept header never turns them into a 406."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def _download(resp, request, filename):
    if request.query_params.get("download"):
        resp["Content-Disposition"] = f'attachment; filename="{filename}"'
    return resp


class RunEventsExport(APIView):
    content_negotiation_class = AnyAccept

    @extend_schema(operation_id="exportEvents", responses={(200, "application/x-ndjson"): bytes})
    def get(self, request, run_id):
        run = visible_run(request, run_id)
        if run.terminal_seq is None:
            raise EvidenceNotReady(
                f"The event log is exported once the run has ended; this run is {run.status}. "
                "Follow it live with .../events/stream.",
                {"status": run.status},
            )
        resp = StreamingHttpResponse(events_ndjson(run.id), content_type="application/x-ndjson")
        return _download(resp, request, f"{run.id}-events.ndjson")


class RunAttestation(APIView):
    content_negotiation_class = AnyAccept

    @extend_schema(operation_id="getAttestation", responses={200: dict})
    def get(self, request, run_id):
        found = attestation_for(run=visible_run(request, run_id))
        # The stored bytes, exactly: their sha256 is the one the bundle and reviews name.
        resp = HttpResponse(found.envelope, content_type="application/json")
        resp["ETag"] = f'"{found.sha256}"'
        return _download(resp, request, f"{run_id}.dsse.json")


class RunSigstoreBundle(APIView):
    content_negotiation_class = AnyAccept

    @extend_schema(operation_id="getSigstoreBundle", responses={200: dict})
    def get(self, request, run_id):
        found = attestation_for(run=visible_run(request, run_id))
        resp = Response(sigstore_bundle(json.loads(found.envelope)))
        return _download(resp, request, f"{run_id}.sigstore.json")


class EvidenceKeys(APIView):
    @extend_schema(operation_id="listEvidenceKeys", responses={200: dict})
    def get(self, request):
        return Response(
            [
                {
                    "keyid": key.keyid,
                    "algorithm": key.algorithm,
                    "publicKeyPem": key.public_key_pem,
                    "createdAt": iso(key.created_at),
                    "retiredAt": iso(key.retired_at),
                }
                for key in EvidenceKey.objects.order_by("created_at")
            ]
        )


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
