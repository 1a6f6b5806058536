from django.contrib import admin

from .models import Attestation, EvidenceBundle, EvidenceKey, Review


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


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ["run", "verdict", "reviewer", "evidence_sha256", "created_at"]
    list_filter = ["verdict", "created_at"]
    search_fields = ["run__id", "reviewer__username", "comment", "evidence_sha256"]
    # A review records what a lead decided about one bundle: it is added from the run page,
    # where the lead check applies, and never edited here (that would rewrite history).
    readonly_fields = [
        "run",
        "evidence",
        "reviewer",
        "verdict",
        "comment",
        "evidence_sha256",
        "attestation_sha256",
        "created_at",
    ]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(EvidenceKey)
class EvidenceKeyAdmin(admin.ModelAdmin):
    """Keys are made and rotated with `manage.py evidence_keys`; here they are only shown."""

    list_display = ["keyid", "algorithm", "created_at", "retired_at"]
    readonly_fields = ["keyid", "algorithm", "public_key_pem", "created_at", "retired_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # a deleted public key would make its attestations unverifiable


@admin.register(Attestation)
class AttestationAdmin(admin.ModelAdmin):
    list_display = ["bundle", "keyid", "sha256", "created_at"]
    search_fields = ["bundle__run__id", "sha256", "keyid"]
    readonly_fields = ["bundle", "envelope", "sha256", "keyid", "created_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
