from django.urls import path

from . import views

urlpatterns = [
    path("runs/<str:run_id>/review", views.review_submit, name="run-review"),
    path("reviews", views.review_queue, name="review-queue"),
]
