from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from ops.api import AuditList
from ops.exposition import metrics_view
from runs.http.health import healthz
from runs.sandbox_templates.http import urls as template_urls

from .signin import SignInView

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("api/v1/audit", AuditList.as_view(), name="audit"),
    path("admin/", admin.site.urls),
    # The sign-in page states the lockout rule (django-axes, crownest_web/signin.py).
    path("accounts/login/", SignInView.as_view(), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves the page's script as a file: the CSP allows no inline script.
    path("api/v1/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include("runs.http.urls")),
    path("api/v1/", include("evidence.urls")),
    path("api/v1/", include(template_urls.api_urlpatterns)),
    path("", include("runs.http.page_urls")),
    path("", include(template_urls.page_urlpatterns)),
    path("", include("evidence.page_urls")),
]
