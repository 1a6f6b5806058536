import json

from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from runs.http.public import AnyAccept, DownloadQueryIn, errors, visible_run
from runs.ids import iso

from . import reviews
from .attestation import sigstore_bundle
from .errors import EvidenceNotReady
from .models import EvidenceKey
from .serializers import (
    EnvelopeOut,
    EvidenceKeyOut,
    EvidenceOut,
    ReviewIn,
    ReviewOut,
    SigstoreBundleOut,
)
from .services import attestation_for, events_jcs, events_ndjson, evidence_for

NOT_READY = errors("evidence_not_ready")


def document(operation_id: str, response, media_type="application/json", **kw):
    return extend_schema(
        operation_id=operation_id,
        parameters=[DownloadQueryIn],
        responses={(200, media_type): response, **NOT_READY},
        **kw,
    )


class RunEvidence(APIView):
    @document("getEvidence", EvidenceOut)
    def get(self, request, run_id):
        run = visible_run(request, run_id)
        attach = _attachment(request)
        bundle = evidence_for(run=run)
        resp = Response(bundle.data)
        resp["ETag"] = f'"{bundle.sha256}"'
        resp["X-Evidence-Sha256"] = bundle.sha256
        return _download(resp, attach, f"{run.id}-evidence.json")


def _attachment(request) -> bool:
    query = DownloadQueryIn(data=request.query_params.dict())
    query.is_valid(raise_exception=True)
    return query.attachment


def _download(resp, attach: bool, filename: str):
    if attach:
        resp["Content-Disposition"] = f'attachment; filename="{filename}"'
    return resp


class RunEventsExport(APIView):
    content_negotiation_class = AnyAccept

    @document(
        "exportEvents",
        OpenApiResponse(
            OpenApiTypes.STR,
            description="one event per line (the RunEvent schema) as RFC 8785 (JCS) JSON, in "
            "seq order: the exact bytes whose sha256 is the bundle's events.sha256",
        ),
        media_type="application/x-ndjson",
    )
    def get(self, request, run_id):
        run = visible_run(request, run_id)
        attach = _attachment(request)
        if run.terminal_seq is None:
            raise EvidenceNotReady(
                f"The event log is exported once the run has ended; this run is {run.status}. "
                "Follow it live with GET .../events/stream, or export it after the end.",
                {"status": run.status},
            )
        lines = events_ndjson(run.id, jcs=events_jcs(run.id))
        resp = StreamingHttpResponse(lines, content_type="application/x-ndjson")
        return _download(resp, attach, f"{run.id}-events.ndjson")


class RunAttestation(APIView):
    content_negotiation_class = AnyAccept

    @document("getAttestation", EnvelopeOut)
    def get(self, request, run_id):
        run = visible_run(request, run_id)
        attach = _attachment(request)
        found = attestation_for(run=run)
        # The stored bytes, exactly: their sha256 is the one the bundle and reviews name.
        resp = HttpResponse(found.envelope, content_type="application/json")
        resp["ETag"] = f'"{found.sha256}"'
        return _download(resp, attach, f"{run_id}.dsse.json")


class RunSigstoreBundle(APIView):
    content_negotiation_class = AnyAccept

    @document("getSigstoreBundle", SigstoreBundleOut)
    def get(self, request, run_id):
        run = visible_run(request, run_id)
        attach = _attachment(request)
        found = attestation_for(run=run)
        resp = Response(sigstore_bundle(json.loads(found.envelope)))
        return _download(resp, attach, f"{run_id}.sigstore.json")


class EvidenceKeys(APIView):
    @extend_schema(operation_id="listEvidenceKeys", responses={200: EvidenceKeyOut(many=True)})
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

    @extend_schema(operation_id="listReviews", responses={200: ReviewOut(many=True)})
    def get(self, request, run_id):
        run = visible_run(request, run_id)
        return Response([reviews.review_json(r) for r in reviews.run_reviews(run)])

    @extend_schema(
        operation_id="createReview",
        request=ReviewIn,
        responses={201: ReviewOut, **errors("forbidden", "evidence_not_ready")},
    )
    def post(self, request, run_id):
        run = visible_run(request, run_id)
        # Permission first: someone who may not review learns nothing about the body's rules.
        reviews.review_require(run=run, reviewer=request.user)
        body = ReviewIn(data=request.data)
        body.is_valid(raise_exception=True)
        review = reviews.review_create(run=run, reviewer=request.user, **body.validated_data)
        return Response(reviews.review_json(review), status=201)
