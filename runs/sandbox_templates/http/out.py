"""Templates as the API shows them (GET /api/v1/templates[/{name}]): these serializers build the
answers, and the schema is generated from them. `Shown` picks, once per template, the versions
the answer speaks of: the current one (newest not retired) and that one again if it is ready."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ...http.shapes import Timestamp, blank_null, named
from ..models import Template
from ..selectors import template_status

STATUSES = ["building", "ready", "failed", "retired"]


class Shown:
    """A template with the versions its answer is about; the fields read their values here."""

    def __init__(self, template: Template):
        self.template = template
        self.versions = list(template.versions.order_by("-number"))
        self.current = next((v for v in self.versions if v.retired_at is None), None)
        current = self.current
        self.ready = current if current is not None and current.status == "ready" else None
        self.status = template_status(template, current)
        self.version = current.number if current else None
        # While no version is ready, the image that is being built (or failed) is the one named.
        self.image = self.ready.image if self.ready else (current.image if current else "")
        self.image_digest = self.ready.image_digest if self.ready else None
        self.python = self.ready.python if self.ready else None
        self.node = self.ready.node if self.ready else None
        self.build_log = current.build_log if current else ""
        self.progress = current.progress if current else {}
        self.error = current.error if current else None


# One class, so that the schema has one TemplateStatus component.
StatusField = extend_schema_field(
    {"type": "string", "enum": STATUSES}, component_name="TemplateStatus"
)(type("TemplateStatusField", (serializers.CharField,), {}))


def status_field(**kwargs):
    return StatusField(**kwargs)


@named("Template")
class TemplateOut(serializers.Serializer):
    name = serializers.CharField(source="template.name")
    description = serializers.CharField(source="template.description", allow_blank=True)
    image = serializers.CharField(allow_blank=True)
    imageDigest = blank_null(
        serializers.CharField, source="image_digest", help_text="null until a version is ready"
    )
    python = blank_null(serializers.CharField)
    node = blank_null(serializers.CharField)
    status = status_field(help_text="of the current (newest not retired) version")
    version = serializers.IntegerField(allow_null=True, help_text="the current version's number")
    basedOn = serializers.CharField(source="template.based_on_id", allow_null=True)
    warm = serializers.BooleanField(
        source="template.warm",
        help_text="whether worker hosts keep started containers of the current version",
    )
    debianPackages = serializers.ListField(
        child=serializers.CharField(), source="template.debian_packages"
    )
    pipPackages = serializers.ListField(
        child=serializers.CharField(), source="template.pip_packages"
    )
    npmPackages = serializers.ListField(
        child=serializers.CharField(), source="template.npm_packages"
    )
    egressAllow = serializers.ListField(
        child=serializers.CharField(),
        source="template.egress_allow",
        help_text='where runs with network "allowlist" may go (empty: nowhere)',
    )

    def to_representation(self, template: Template):
        return super().to_representation(Shown(template))


@named("TemplateVersion")
class TemplateVersionOut(serializers.Serializer):
    number = serializers.IntegerField(min_value=1)
    imageDigest = blank_null(
        serializers.CharField, source="image_digest", help_text="null until built"
    )
    image = blank_null(serializers.CharField)
    createdAt = Timestamp(source="created_at")
    status = status_field(source="shown_status")
    python = blank_null(serializers.CharField)
    node = blank_null(serializers.CharField)
    sizeBytes = serializers.IntegerField(source="size_bytes", allow_null=True)
    source = serializers.CharField(help_text="`worker`, or the script under images/ that built it")
    finishedAt = Timestamp(source="finished_at", allow_null=True)
    retiredAt = Timestamp(source="retired_at", allow_null=True)


@named("TemplateDetail")
class TemplateDetailOut(TemplateOut):
    versions = TemplateVersionOut(many=True, help_text="newest first")
    buildLog = serializers.CharField(
        source="build_log", allow_blank=True, help_text="the current version's"
    )
    progress = serializers.DictField(help_text="phase, step, steps, percent of the current build")
    error = blank_null(serializers.CharField, help_text="why the current version failed")
