from django.urls import path

from . import api

RUN = "workspace-runs/<str:run_id>"

urlpatterns = [
    path(f"{RUN}/evidence", api.RunEvidence.as_view(), name="run-evidence"),
    path(f"{RUN}/evidence/attestation", api.RunAttestation.as_view(), name="run-attestation"),
    path(
        f"{RUN}/evidence/sigstore-bundle",
        api.RunSigstoreBundle.as_view(),
        name="run-sigstore-bundle",
    ),
    path(f"{RUN}/events.ndjson", api.RunEventsExport.as_view(), name="run-events-ndjson"),
    path(f"{RUN}/reviews", api.RunReviews.as_view(), name="run-reviews"),
    path("evidence-keys", api.EvidenceKeys.as_view(), name="evidence-keys"),
]
