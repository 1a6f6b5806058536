import json
import re

from django import template

from runs import ids
from runs.models import Membership

register = template.Library()

UNITS = ("B", "KiB", "MiB", "GiB", "TiB")
DOCKER_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)i?b?\s*$", re.I)


@register.simple_tag
def user_memberships(user):
    if not user.is_authenticated:
        return []
    return list(Membership.objects.filter(user=user).select_related("team").order_by("team__slug"))


@register.filter
def seconds(value):
    """A duration in seconds as people read it: 850ms, 12.3s, 4m05s, 1h02m."""
    if value is None or value == "":
        return "–"
    value = float(value)
    if value < 1:
        return f"{value * 1000:.0f}ms"
    if value < 60:
        return f"{value:.1f}s"
    minutes, secs = divmod(int(value), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


@register.filter
def filesize(value):
    """Bytes in binary units, without a useless ".0": 512 B, 48.2 KiB, 64 MiB, 1 GiB."""
    if value is None or value == "":
        return "–"
    value = float(value)
    for unit in UNITS:
        if value < 1024 or unit == UNITS[-1]:
            if unit == "B":
                return f"{value:.0f} B"
            text = f"{value:.1f}".removesuffix(".0")
            return f"{text} {unit}"
        value /= 1024
    return ""


def size_bytes(value) -> int | None:
    """A byte count from a number or a Docker size string ("1g", "64m", "512k")."""
    if isinstance(value, int | float):
        return int(value)
    match = DOCKER_SIZE.match(str(value or ""))
    if not match:
        return None
    power = "bkmgt".index(match.group(2).lower()) if match.group(2) else 0
    return int(float(match.group(1)) * 1024**power)


@register.filter
def humansize(value):
    """A Docker size string or a byte count as people read it ("1g" -> "1 GiB")."""
    size = size_bytes(value)
    return filesize(size) if size is not None else value


@register.filter
def timespan(value):
    """A limit in seconds: 45 s, 10 min, 1 h 30 min."""
    try:
        value = int(value)
    except (TypeError, ValueError):
        return value
    if value < 120 and value % 60:
        return f"{value} s"
    minutes = value // 60
    if minutes < 60:
        return f"{minutes} min" + (f" {value % 60} s" if value % 60 else "")
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h" + (f" {minutes} min" if minutes else "")


@register.filter
def command_text(command):
    if isinstance(command, list):
        return " ".join(command)
    return command


@register.filter
def pretty_json(value):
    """Stored JSON (a dict, a list, or its text) as indented JSON text, keys in their order."""
    if isinstance(value, bytes | str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return json.dumps(value, indent=2, ensure_ascii=False)


@register.filter
def get(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def iso(value):
    """RFC 3339 UTC with milliseconds (what the page's scripts parse)."""
    return ids.iso(value) or ""
