"""Runs this worker host's egress proxy in the foreground (make up, deploy/crownest-egress.service).

The proxy is mitmproxy 11 with CrowNest's addon, in a process of its own started with the
egress interpreter (CROWNEST_EGRESS_PYTHON, a virtualenv that `make setup` fills): mitmproxy
pins libraries of its own that the web and worker processes must not share, and the proxy,
which parses every byte a sandbox sends, holds no database credentials."""

import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from runs.egress.ca import ca_paths
from runs.egress.config import proxy_config_write


class Command(BaseCommand):
    help = "Run this host's egress proxy (mitmproxy with CrowNest's addon) in the foreground."

    def handle(self, *args, **options):
        python = Path(settings.CROWNEST_EGRESS_PYTHON)
        if not python.exists():
            raise CommandError(f"{python} is missing: `make setup` installs the egress proxy")
        key_file, _cert = ca_paths(settings.CROWNEST_EGRESS_CA_DIR)
        if not key_file.exists():
            raise CommandError("no egress CA yet: run `manage.py egress_ca create`")
        config = proxy_config_write()
        os.chdir(settings.BASE_DIR)
        argv = [str(python), "-m", "runs.egress.proxy_main", str(config)]
        os.execv(argv[0], argv)  # the proxy replaces this process: signals reach it directly
