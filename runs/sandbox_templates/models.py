"""Templates as data (docs/templates.md): a recipe and its versions. Models of the runs app (app
label `runs`, tables runs_template and runs_templateversion): runs/models.py imports them."""

from django.db import models


class Template(models.Model):
    """A recipe (docs/templates.md); each change builds a TemplateVersion. image..node mirror the
    newest ready version, for the list API."""

    name = models.CharField(max_length=50, primary_key=True)
    description = models.TextField(blank=True)
    based_on = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="derived"
    )
    debian_packages = models.JSONField(default=list, blank=True)
    pip_packages = models.JSONField(default=list, blank=True)
    npm_packages = models.JSONField(default=list, blank=True)
    # Where the template's runs may go with network "allowlist" (runs/egress/policy.py entries).
    egress_allow = models.JSONField(default=list, blank=True)
    image = models.CharField(max_length=200, blank=True)
    image_digest = models.CharField(max_length=100, blank=True)
    python = models.CharField(max_length=20, blank=True)
    node = models.CharField(max_length=20, blank=True)
    # Staff-set: each worker host keeps a few started containers of the current ready version.
    warm = models.BooleanField(
        default=False, help_text="keep started containers of the current version on every host"
    )
    # The largest resources one run may ask for (null: CROWNEST_RUN_MAX_*).
    max_cpus = models.FloatField(null=True, blank=True)
    max_memory_mib = models.PositiveIntegerField(null=True, blank=True)
    max_disk_mib = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, null=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return self.name


class TemplateVersion(models.Model):
    """One build of a template's recipe, identified by its image digest once built."""

    class Status(models.TextChoices):
        BUILDING = "building"
        READY = "ready"
        FAILED = "failed"

    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    recipe = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.BUILDING)
    image = models.CharField(max_length=200, blank=True)
    image_digest = models.CharField(max_length=100, blank=True, db_index=True)
    python = models.CharField(max_length=20, blank=True)
    node = models.CharField(max_length=20, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    # Who made the image: the worker's builder, or a script under images/ (built outside).
    source = models.CharField(max_length=100, default="worker")
    build_log = models.TextField(blank=True)
    progress = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    # Where the installation's registry holds this version (CROWNEST_REGISTRY): the pushed
    # reference and the registry's manifest digest; hosts that lack the image pull it from there.
    registry_ref = models.CharField(max_length=300, blank=True)
    registry_digest = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["template", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["template", "number"], name="one_version_number")
        ]

    def __str__(self):
        return f"{self.template_id} v{self.number}"

    @property
    def shown_status(self) -> str:
        return "retired" if self.retired_at else self.status
