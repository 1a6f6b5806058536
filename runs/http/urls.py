from django.urls import path

from . import (
    api,
    archive_api,
    artifact_api,
    network_api,
    rerun_api,
    sse,
    team_api,
    transfer_api,
)

urlpatterns = [
    path("workspace-runs", api.RunCollection.as_view(), name="run-list"),
    path("workspace-runs/<str:run_id>", api.RunDetail.as_view(), name="run-detail"),
    path("workspace-runs/<str:run_id>/archive", api.RunArchive.as_view(), name="run-archive"),
    path("workspace-runs/<str:run_id>/start", api.RunStart.as_view(), name="run-start"),
    path("workspace-runs/<str:run_id>/cancel", api.RunCancel.as_view(), name="run-cancel"),
    path("workspace-runs/<str:run_id>/rerun", rerun_api.RunRerun.as_view(), name="run-rerun"),
    path("workspace-runs/<str:run_id>/events", api.RunEvents.as_view(), name="run-events"),
    path(
        "workspace-runs/<str:run_id>/network",
        network_api.RunNetworkLog.as_view(),
        name="run-network",
    ),
    path(
        "workspace-runs/<str:run_id>/network.ndjson",
        network_api.RunNetworkExport.as_view(),
        name="run-network-ndjson",
    ),
    path("workspace-runs/<str:run_id>/events/stream", sse.event_stream, name="run-stream"),
    path(
        "workspace-runs/<str:run_id>/artifacts",
        artifact_api.RunArtifacts.as_view(),
        name="run-artifacts",
    ),
    path(
        "artifacts/<str:artifact_id>", artifact_api.ArtifactDetail.as_view(), name="artifact-detail"
    ),
    path(
        "artifacts/<str:artifact_id>/download",
        artifact_api.ArtifactDownload.as_view(),
        name="artifact-download",
    ),
    path("archives/<str:sha256>", archive_api.ArchiveLookup.as_view(), name="archive-lookup"),
    path(
        "workspace-runs/<str:run_id>/transfers",
        transfer_api.TransferCollection.as_view(),
        name="run-transfers",
    ),
    path("transfers/<str:transfer_id>", transfer_api.TransferDetail.as_view(), name="transfer"),
    path(
        "transfers/<str:transfer_id>/parts",
        transfer_api.TransferParts.as_view(),
        name="transfer-parts",
    ),
    path("teams", team_api.TeamCollection.as_view(), name="teams"),
    path("teams/<str:name>", team_api.TeamDetail.as_view(), name="team-detail"),
    path("users/<str:username>", team_api.UserDetail.as_view(), name="user-detail"),
    path("usage", team_api.UsageList.as_view(), name="usage"),
    path(
        "transfers/<str:transfer_id>/complete",
        transfer_api.TransferComplete.as_view(),
        name="transfer-complete",
    ),
]
