"""Templates as JSON (GET /api/v1/templates[/{name}]) and their OpenAPI shapes."""

from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from ...ids import iso
from ..models import Template, TemplateVersion
from ..selectors import template_status

STATUSES = ["building", "ready", "failed", "retired"]


def version_json(v: TemplateVersion) -> dict:
    return {
        "number": v.number,
        "imageDigest": v.image_digest or None,
        "image": v.image or None,
        "createdAt": iso(v.created_at),
        "status": v.shown_status,
        "python": v.python or None,
        "node": v.node or None,
        "sizeBytes": v.size_bytes,
        "source": v.source,
        "finishedAt": iso(v.finished_at),
        "retiredAt": iso(v.retired_at),
    }


def template_json(t: Template, *, detail: bool = False) -> dict:
    versions = list(t.versions.order_by("-number"))
    current = next((v for v in versions if v.retired_at is None), None)
    ready = current if current is not None and current.status == "ready" else None
    out = {
        "name": t.name,
        "description": t.description,
        "image": ready.image if ready else (current.image if current else ""),
        "imageDigest": (ready.image_digest or None) if ready else None,
        "python": (ready.python or None) if ready else None,
        "node": (ready.node or None) if ready else None,
        "status": template_status(t, current),
        "version": current.number if current else None,
        "basedOn": t.based_on_id,
        "warm": t.warm,
        "debianPackages": list(t.debian_packages),
        "pipPackages": list(t.pip_packages),
        "npmPackages": list(t.npm_packages),
        "egressAllow": list(t.egress_allow),
    }
    if detail:
        out["versions"] = [version_json(v) for v in versions]
        out["buildLog"] = current.build_log if current else ""
        out["progress"] = current.progress if current else {}
        out["error"] = (current.error or None) if current else None
    return out


# One class, so that the schema has one TemplateStatus component.
StatusField = extend_schema_field(
    {"type": "string", "enum": STATUSES}, component_name="TemplateStatus"
)(type("TemplateStatusField", (serializers.CharField,), {}))


def status_field(**kwargs):
    return StatusField(**kwargs)


def named(name: str):
    return extend_schema_serializer(component_name=name)


@named("Template")
class TemplateOut(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    image = serializers.CharField(allow_blank=True)
    imageDigest = serializers.CharField(allow_null=True, help_text="null until a version is ready")
    python = serializers.CharField(allow_null=True)
    node = serializers.CharField(allow_null=True)
    status = status_field(help_text="of the current (newest not retired) version")
    version = serializers.IntegerField(allow_null=True, help_text="the current version's number")
    basedOn = serializers.CharField(allow_null=True)
    warm = serializers.BooleanField(
        help_text="whether worker hosts keep started containers of the current version"
    )
    debianPackages = serializers.ListField(child=serializers.CharField())
    pipPackages = serializers.ListField(child=serializers.CharField())
    npmPackages = serializers.ListField(child=serializers.CharField())
    egressAllow = serializers.ListField(
        child=serializers.CharField(),
        help_text='where runs with network "allowlist" may go (empty: nowhere)',
    )


@named("TemplateVersion")
class TemplateVersionOut(serializers.Serializer):
    number = serializers.IntegerField(min_value=1)
    imageDigest = serializers.CharField(allow_null=True, help_text="null until built")
    image = serializers.CharField(allow_null=True)
    createdAt = serializers.DateTimeField()
    status = status_field()
    python = serializers.CharField(allow_null=True)
    node = serializers.CharField(allow_null=True)
    sizeBytes = serializers.IntegerField(allow_null=True)
    source = serializers.CharField(help_text="`worker`, or the script under images/ that built it")
    finishedAt = serializers.DateTimeField(allow_null=True)
    retiredAt = serializers.DateTimeField(allow_null=True)


@named("TemplateDetail")
class TemplateDetailOut(TemplateOut):
    versions = TemplateVersionOut(many=True, help_text="newest first")
    buildLog = serializers.CharField(allow_blank=True, help_text="the current version's")
    progress = serializers.DictField(help_text="phase, step, steps, percent of the current build")
    error = serializers.CharField(allow_null=True, help_text="why the current version failed")
