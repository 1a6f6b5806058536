from functools import partial

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.utils import timezone
from django.utils.html import format_html

from . import services
from .errors import DomainError
from .models import (
    ApiToken,
    Artifact,
    Membership,
    Quota,
    Run,
    RunEvent,
    Team,
    Transfer,
    WorkerHost,
)
from .roles import Action, run_require
from .sandbox_templates import admin as _template_admins  # noqa: F401 (registers them)
from .scheduling.models import MAXIMUM_FIELDS, QUOTA_FIELDS
from .selectors import hosts_report
from .tasks import reap


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1


class QuotaInline(admin.StackedInline):
    """A team's or user's own limits; a blank field keeps the setting's default (CROWNEST_QUOTA_*),
    0 is no limit (docs/operations.md, "Quotas")."""

    model = Quota
    max_num = 1
    can_delete = True
    verbose_name_plural = "quota (blank: the default)"
    fields = [*QUOTA_FIELDS.values(), *MAXIMUM_FIELDS.values()]


class UserQuotaInline(QuotaInline):
    fields = list(QUOTA_FIELDS.values())  # resource maximums are a team's


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["slug", "name"]
    search_fields = ["slug", "name"]
    inlines = [MembershipInline, QuotaInline]


class UserWithQuotaAdmin(UserAdmin):
    inlines = [*UserAdmin.inlines, UserQuotaInline]


User = get_user_model()
if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, UserWithQuotaAdmin)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["team", "user", "role"]
    list_filter = ["role", "team"]
    search_fields = ["user__username", "team__slug"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["prefix", "user", "name", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["user__username", "name", "prefix"]
    readonly_fields = ["prefix", "key_hash", "created_at", "last_used_at"]
    actions = ["revoke"]

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())


class RunEventInline(admin.TabularInline):
    model = RunEvent
    fields = ["seq", "type", "timestamp", "data"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    max_num = 0
    ordering = ["seq"]


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "status",
        "template",
        "owner",
        "team",
        "exit_code",
        "failure_reason",
        "worker_host",
        "created_at",
        "page",
    ]
    list_filter = [
        "status",
        "failure_reason",
        "template",
        "team",
        "worker_host",
        "pinned",
        "created_at",
    ]
    search_fields = ["id", "owner__username", "archive_sha256"]
    readonly_fields = [f.name for f in Run._meta.fields]
    inlines = [RunEventInline]
    actions = ["cancel_runs", "run_reaper", "pin_runs", "unpin_runs"]

    def page(self, obj):
        return format_html('<a href="/runs/{}">open</a>', obj.id)

    # Each action asks runs/roles.py, as the API does (staff may do all of these today).
    def _each(self, request, queryset, action, apply):
        for run in queryset:
            try:
                run_require(user=request.user, run=run, action=action)
                apply(run=run)
            except DomainError as exc:
                self.message_user(request, f"{run.id}: {exc.message}", messages.WARNING)

    @admin.action(description="Cancel selected runs")
    def cancel_runs(self, request, queryset):
        self._each(request, queryset, Action.CANCEL, services.run_cancel)

    @admin.action(description="Pin selected runs (retention keeps their archive and artifacts)")
    def pin_runs(self, request, queryset):
        self._each(request, queryset, Action.PIN, partial(services.run_pin, pinned=True))

    @admin.action(description="Unpin selected runs")
    def unpin_runs(self, request, queryset):
        self._each(request, queryset, Action.PIN, partial(services.run_pin, pinned=False))

    @admin.action(description="Run the reaper now")
    def run_reaper(self, request, queryset):
        reap.delay()
        self.message_user(request, "The reaper was queued.")

    def has_add_permission(self, request):
        return False

    # Deleting goes through the service: a stored archive another run shares is kept.
    def delete_model(self, request, obj):
        run_require(user=request.user, run=obj, action=Action.DELETE)
        services.run_delete(run=obj)

    def delete_queryset(self, request, queryset):
        self._each(request, queryset, Action.DELETE, services.run_delete)


@admin.register(RunEvent)
class RunEventAdmin(admin.ModelAdmin):
    list_display = ["run", "seq", "type", "timestamp"]
    list_filter = ["type"]
    search_fields = ["run__id"]
    readonly_fields = ["run", "seq", "type", "timestamp", "data"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Artifact)
class ArtifactAdmin(admin.ModelAdmin):
    list_display = ["id", "run", "path", "size_bytes", "sha256", "created_at"]
    search_fields = ["id", "run__id", "path", "sha256"]
    readonly_fields = [f.name for f in Artifact._meta.fields]
    list_filter = ["content_type"]


@admin.register(Transfer)
class TransferAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "run",
        "status",
        "received_bytes",
        "size_bytes",
        "expires_at",
        "updated_at",
    ]
    list_filter = ["status"]
    search_fields = ["id", "run__id", "run__owner__username"]
    readonly_fields = [f.name for f in Transfer._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WorkerHost)
class WorkerHostAdmin(admin.ModelAdmin):
    """Each worker host: its engine, its slots and how many are in use, when it was last heard."""

    list_display = [
        "name", "state", "slots", "slots_in_use", "cpus", "memory_mib", "disk_mib",
        "last_seen_at", "egress", "docker_host",
    ]  # fmt: skip
    readonly_fields = [f.name for f in WorkerHost._meta.fields]

    def get_queryset(self, request):
        self._report = {h["name"]: h for h in hosts_report()}
        return super().get_queryset(request)

    @admin.display(description="state")
    def state(self, obj):
        return self._report.get(obj.name, {}).get("state", "")

    @admin.display(description="slots in use")
    def slots_in_use(self, obj):
        return self._report.get(obj.name, {}).get("slots_in_use", 0)

    def has_add_permission(self, request):
        return False
