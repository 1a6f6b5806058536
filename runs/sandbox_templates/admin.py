"""Templates in the admin: staff define and change a recipe here as through the API (the same
checks, the same services: each save builds a new version), and retire versions."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.utils.html import format_html

from ..egress.policy import AllowEntryError, egress_allow_validate
from ..errors import DomainError
from . import services
from .models import Template, TemplateVersion
from .recipe import TEMPLATE_NAME, bad_package
from .selectors import template_status

LISTS = {
    "debian_packages": "debianPackages",
    "pip_packages": "pipPackages",
    "npm_packages": "npmPackages",
}


class PackagesField(forms.CharField):
    """One package per line (or separated by spaces), as a list."""

    widget = forms.Textarea(attrs={"rows": 4})

    def __init__(self, kind: str, **kwargs):
        super().__init__(required=False, **kwargs)
        self.kind = kind

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list) else value

    def clean(self, value):
        words = (super().clean(value) or "").split()
        problems = [p for p in (bad_package(self.kind, w) for w in words) if p]
        if problems:
            raise forms.ValidationError(problems)
        if len(words) > settings.CROWNEST_TEMPLATE_MAX_PACKAGES:
            raise forms.ValidationError(
                f"at most {settings.CROWNEST_TEMPLATE_MAX_PACKAGES} packages"
            )
        return words


class EgressAllowField(PackagesField):
    """One allow entry per line (runs/egress/policy.py's strict rules)."""

    def clean(self, value):
        try:
            return egress_allow_validate(forms.CharField.clean(self, value).split())
        except AllowEntryError as exc:
            raise forms.ValidationError(str(exc)) from exc


class TemplateForm(forms.ModelForm):
    debian_packages = PackagesField("debianPackages")
    pip_packages = PackagesField("pipPackages")
    npm_packages = PackagesField("npmPackages")
    egress_allow = EgressAllowField("egressAllow")

    class Meta:
        model = Template
        fields = ["name", "description", "based_on", *LISTS, "egress_allow", "warm"]

    def clean_name(self):
        name = self.cleaned_data["name"]
        if not TEMPLATE_NAME.fullmatch(name):
            raise forms.ValidationError("lowercase letters, digits and '-' (at most 40)")
        return name


class VersionInline(admin.TabularInline):
    model = TemplateVersion
    fields = ["number", "status", "image_digest", "size_bytes", "created_at", "retired_at", "log"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="build log")
    def log(self, obj):
        return format_html('<a href="/templates/{}">template page</a>', obj.template_id)


@admin.register(Template)
class TemplateAdmin(admin.ModelAdmin):
    form = TemplateForm
    list_display = [
        "name",
        "status",
        "warm",
        "image",
        "image_digest",
        "python",
        "node",
        "updated_at",
    ]
    readonly_fields = ["image", "image_digest", "python", "node", "updated_at"]
    inlines = [VersionInline]

    def has_delete_permission(self, request, obj=None):
        return False  # runs and evidence name templates and versions: retire them instead

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "name"] if obj else self.readonly_fields

    @admin.display(description="status")
    def status(self, obj):
        return template_status(obj)

    def save_model(self, request, obj, form, change):
        """Through the services, so that a save builds a version exactly as the API does."""
        data = {
            f: form.cleaned_data.get(f) for f in ["description", *LISTS, "egress_allow", "warm"]
        }
        base = form.cleaned_data.get("based_on")
        data["based_on"] = base.pk if base else None
        try:
            if change:
                changed = {f: data[f] for f in form.changed_data if f in data}
                if not changed:
                    self.message_user(request, "Nothing changed; no new version was built.")
                    return
                services.template_update(template=obj, **changed)
            else:
                changed = data
                services.template_create(name=obj.name, **data)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        if set(changed) & set(services.RECIPE_FIELDS):
            self.message_user(
                request, "A new version is being built; its log is on the template page."
            )
        else:
            self.message_user(request, "Saved; the recipe is unchanged, so no version was built.")


@admin.register(TemplateVersion)
class TemplateVersionAdmin(admin.ModelAdmin):
    list_display = ["template", "number", "status", "image_digest", "size_bytes", "retired_at"]
    list_filter = ["status", "template"]
    search_fields = ["template__name", "image_digest", "registry_digest"]
    readonly_fields = [f.name for f in TemplateVersion._meta.fields]
    actions = ["retire"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Retire the selected versions (no new runs, no reruns)")
    def retire(self, request, queryset):
        for version in queryset.select_related("template"):
            try:
                services.version_retire(template=version.template, number=version.number)
            except DomainError as exc:
                self.message_user(request, f"{version}: {exc.message}", messages.ERROR)
