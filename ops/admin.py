from django.contrib import admin

from .models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only for staff: nobody adds, changes or deletes an audit row from the admin."""

    list_display = ["at", "actor", "staff", "action", "object_type", "object_id", "outcome"]
    list_filter = ["action", "outcome", "staff", "object_type", "at"]
    search_fields = ["actor", "object_id", "address", "request_id", "action"]
    readonly_fields = [f.name for f in AuditEntry._meta.fields]
    date_hierarchy = "at"

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
