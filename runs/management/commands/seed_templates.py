from django.core.management.base import BaseCommand

from runs.sandbox_templates.seed import templates_seed


class Command(BaseCommand):
    help = (
        "Record the templates that settings define (CROWNEST_TEMPLATES: python-node) in the "
        "Template table, with a version for each configured image (made by images/NAME/build.sh). "
        "Idempotent; make setup runs it after build.sh."
    )

    def handle(self, *args, **options):
        added = templates_seed()
        for name in added:
            self.stdout.write(f"added {name}")
        if not added:
            self.stdout.write("templates up to date")
