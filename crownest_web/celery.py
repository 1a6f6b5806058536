import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crownest_web.settings")

app = Celery("crownest")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Worker start and stop (keepers, image records, the health ping): imported by workers (and
# beat) when they start, never by the web process, which only sends tasks.
app.conf.imports = ("runs.worker.boot",)
