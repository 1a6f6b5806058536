"""The templates' routes: the API (under /api/v1/) and the pages."""

from django.urls import path

from . import api, pages

api_urlpatterns = [
    path("templates", api.TemplateCollection.as_view(), name="templates"),
    path("templates/<str:name>", api.TemplateDetail.as_view(), name="template-detail"),
    path("templates/<str:name>/retire", api.TemplateRetire.as_view(), name="template-retire"),
]

page_urlpatterns = [
    path("templates", pages.template_list, name="template-list"),
    path("templates/<str:name>", pages.template_page, name="template-page"),
    path("templates/<str:name>/panel", pages.template_panel, name="template-panel"),
]
