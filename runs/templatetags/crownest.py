from django import template

from runs.models import Membership

register = template.Library()


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
    value = int(value or 0)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return value


@register.filter
def command_text(command):
    if isinstance(command, list):
        return " ".join(command)
    return command
