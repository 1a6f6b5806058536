from django.urls import path

from .consumers import RunEventsConsumer

websocket_urlpatterns = [
    path("ws/workspace-runs/<str:run_id>/events", RunEventsConsumer.as_asgi()),
]
