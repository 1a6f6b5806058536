from django.urls import path

from . import api

urlpatterns = [
    path("workspace-runs/<str:run_id>/evidence", api.RunEvidence.as_view(), name="run-evidence"),
    path("workspace-runs/<str:run_id>/reviews", api.RunReviews.as_view(), name="run-reviews"),
]
