from django.contrib import admin

from .models import EvidenceBundle


@admin.register(EvidenceBundle)
class EvidenceBundleAdmin(admin.ModelAdmin):
    list_display = ["run", "sha256", "created_at"]
    search_fields = ["run__id", "sha256"]
    list_filter = ["created_at"]
    readonly_fields = ["run", "data", "sha256", "created_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
