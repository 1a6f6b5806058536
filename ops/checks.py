"""A metrics allow-list entry that is not an address or network would turn every scrape into a
500: refuse to start instead (`crownest.E101`)."""

import ipaddress

from django.conf import settings
from django.core.checks import Error, register


@register()
def metrics_allow_list(app_configs=None, **_):
    problems = []
    for entry in settings.CROWNEST_METRICS_ALLOW:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            problems.append(
                Error(
                    f"CROWNEST_METRICS_ALLOW has {entry!r}, which is not an address or network.",
                    hint="Use addresses or CIDR networks, comma-separated: 10.0.5.10,10.0.6.0/24",
                    id="crownest.E101",
                )
            )
    return problems
