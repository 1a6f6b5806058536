"""A template's recipe (POST/PATCH /api/v1/templates), checked by recipe.py's strict patterns,
and whether the warm pool keeps it started."""

from django.conf import settings
from rest_framework import serializers

from ...egress.policy import AllowEntryError, egress_allow_validate
from ...http.inputs.fields import StrictBool, StrictText, documented, text_schema
from ..recipe import KINDS, TEMPLATE_NAME, bad_package


def _packages(kind: str, source: str):
    pattern, what = KINDS[kind]
    return serializers.ListField(
        source=source,
        child=documented(
            StrictText,
            text_schema(214, pattern.pattern),
            max_length=214,
            help_text=what,
        ),
        required=False,
        max_length=settings.CROWNEST_TEMPLATE_MAX_PACKAGES,
        help_text=f"each {what}; at most {settings.CROWNEST_TEMPLATE_MAX_PACKAGES}",
    )


def _check(kind: str, values: list[str]) -> list[str]:
    for value in values:
        problem = bad_package(kind, value)
        if problem:
            raise serializers.ValidationError(problem)
    if len(set(values)) != len(values):
        raise serializers.ValidationError("lists a package twice")
    return values


class TemplateIn(serializers.Serializer):
    name = documented(
        StrictText,
        text_schema(40, TEMPLATE_NAME.pattern, minLength=1),
        max_length=40,
        help_text="lowercase letters, digits and '-'; names the image too",
    )
    description = StrictText(required=False, allow_blank=True, max_length=2000)
    basedOn = StrictText(
        required=False,
        allow_null=True,
        max_length=40,
        source="based_on",
        help_text="another template's name: the build starts from its current version's image",
    )
    debianPackages = _packages("debianPackages", "debian_packages")
    pipPackages = _packages("pipPackages", "pip_packages")
    npmPackages = _packages("npmPackages", "npm_packages")
    egressAllow = serializers.ListField(
        source="egress_allow",
        child=documented(StrictText, text_schema(260), max_length=260),
        required=False,
        max_length=settings.CROWNEST_EGRESS_MAX_ALLOW,
        help_text='where runs with network "allowlist" may go: host names, host:port, '
        '*.suffix, IP literals (docs/operations.md, "Network egress"); empty by default',
    )
    warm = StrictBool(
        required=False,
        help_text="keep started containers of the current version on every worker host (not a "
        "recipe change: builds nothing)",
    )

    def __init__(self, *args, updating: bool = False, **kwargs):
        super().__init__(*args, partial=updating, **kwargs)
        self.updating = updating

    def validate_name(self, value):
        if self.updating:
            raise serializers.ValidationError("cannot be changed; create a new template instead")
        if not TEMPLATE_NAME.fullmatch(value):
            raise serializers.ValidationError(
                "must be lowercase letters, digits and '-', starting with a letter or digit"
            )
        return value

    def validate_debianPackages(self, value):
        return _check("debianPackages", value)

    def validate_pipPackages(self, value):
        return _check("pipPackages", value)

    def validate_npmPackages(self, value):
        return _check("npmPackages", value)

    def validate_egressAllow(self, value):
        try:
            return egress_allow_validate(value, max_entries=settings.CROWNEST_EGRESS_MAX_ALLOW)
        except AllowEntryError as exc:
            raise serializers.ValidationError(str(exc)) from exc

    def validate(self, attrs):
        unknown = set(self.initial_data) - set(self.fields)
        if unknown:
            raise serializers.ValidationError({k: ["is not a recipe field"] for k in unknown})
        if self.updating and not attrs:
            raise serializers.ValidationError("the body changes nothing")
        return attrs


class TemplateRetireIn(serializers.Serializer):
    imageDigest = StrictText(max_length=100, help_text="the digest of the version to retire")
