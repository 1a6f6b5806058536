"""Sign-in throttling with django-axes: the lockout check, the sign-in page that states the rule,
and the page a locked-out sign-in gets (crownest_web/settings/access.py has the settings)."""

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.shortcuts import render


class SignInLockoutBackend(AxesStandaloneBackend):
    """Axes' lockout check for every sign-in that comes with a request (the sign-in page, the
    admin's). A call without one (the test client's login(), a management command) has no
    address to count against, so there is nothing to check; the password is still checked by
    the next backend."""

    def authenticate(self, request, *args, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, *args, **kwargs)


def cooloff_seconds() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds())


def _duration(seconds: int) -> str:
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} seconds"


def policy() -> dict:
    """What the sign-in page says about the rule, from the settings in force."""
    return {
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cooloff": _duration(cooloff_seconds()),
    }


class SignInView(LoginView):
    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "signin_policy": policy()}


def lockout_response(request, *args, **kwargs):
    """The sign-in page again, with 429 and Retry-After: too many failures for this username
    from this address. (Axes calls this with differing arguments from its sync and async
    paths; the request is all it needs.)"""
    context = {
        "form": AuthenticationForm(request),
        "next": request.POST.get("next", request.GET.get("next", "")),
        "signin_policy": policy(),
        "locked_out": True,
    }
    resp = render(request, "registration/login.html", context, status=429)
    resp["Retry-After"] = str(cooloff_seconds())
    return resp
