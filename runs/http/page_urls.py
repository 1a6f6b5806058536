from django.urls import path

from . import pages as views

urlpatterns = [
    path("", views.home, name="home"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("runs/new", views.new_run, name="run-new"),
    path("runs/<str:run_id>", views.run_page, name="run-page"),
    path("runs/<str:run_id>/panels", views.run_panels, name="run-panels"),
    path("runs/<str:run_id>/log.txt", views.run_log, name="run-log"),
]
