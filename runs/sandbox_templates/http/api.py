"""Templates (docs/templates.md): everyone signed in reads them; staff define, change and retire
them. Each change answers at once with the new version `building`; a worker builds it."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from ...errors import NotFound
from ...http.auth import staff_required
from ...http.schema import errors
from .. import selectors, services
from .inputs import TemplateIn, TemplateRetireIn
from .out import TemplateDetailOut, TemplateOut

STAFF_ONLY = "Only staff define, change and retire templates."


def template_or_404(name: str):
    template = selectors.template_get(name)
    if template is None:
        raise NotFound("template", f"No template named {name!r}; GET /api/v1/templates lists them.")
    return template


def detail(template, code=status.HTTP_200_OK) -> Response:
    template.refresh_from_db()
    return Response(TemplateDetailOut(template).data, status=code)


class TemplateCollection(APIView):
    @extend_schema(operation_id="listTemplates", responses={200: TemplateOut(many=True)})
    def get(self, request):
        return Response(TemplateOut(selectors.template_all(), many=True).data)

    @extend_schema(
        operation_id="createTemplate",
        request=TemplateIn,
        responses={201: TemplateDetailOut, **errors("forbidden", "invalid_state")},
        description="Staff only. Builds the first version on a worker; poll GET .../{name}.",
    )
    def post(self, request):
        staff_required(request, STAFF_ONLY)
        body = TemplateIn(data=request.data)
        body.is_valid(raise_exception=True)
        return detail(services.template_create(**body.validated_data), status.HTTP_201_CREATED)


class TemplateDetail(APIView):
    @extend_schema(operation_id="getTemplate", responses={200: TemplateDetailOut})
    def get(self, request, name):
        return detail(template_or_404(name))

    @extend_schema(
        operation_id="updateTemplate",
        request=TemplateIn,
        responses={200: TemplateDetailOut, **errors("forbidden", "invalid_state")},
        description="Staff only. Any change builds a new version; older ones stay runnable.",
    )
    def patch(self, request, name):
        staff_required(request, STAFF_ONLY)
        template = template_or_404(name)
        body = TemplateIn(data=request.data, updating=True)
        body.is_valid(raise_exception=True)
        return detail(services.template_update(template=template, **body.validated_data))


class TemplateRetire(APIView):
    @extend_schema(
        operation_id="retireTemplateVersion",
        request=TemplateRetireIn,
        responses={200: TemplateDetailOut, **errors("forbidden", "invalid_state")},
        description="Staff only. The version takes no new runs and no reruns from now on.",
    )
    def post(self, request, name):
        staff_required(request, STAFF_ONLY)
        template = template_or_404(name)
        body = TemplateRetireIn(data=request.data)
        body.is_valid(raise_exception=True)
        services.version_retire(template=template, image_digest=body.validated_data["imageDigest"])
        return detail(template)
