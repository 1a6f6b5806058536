from rest_framework import authentication, exceptions

from ..errors import Forbidden
from ..token_guard import token_user_guarded
from ..tokens import bearer_key
from . import schema  # noqa: F401  (registers the Bearer scheme with drf-spectacular)


class BearerTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION")
        if not header:
            return None
        # Throttled (429) for an address that sent too many bad tokens: runs/token_guard.py.
        key = bearer_key(header)
        user = token_user_guarded(key, request.META.get("REMOTE_ADDR", ""))
        if user is None:
            raise exceptions.AuthenticationFailed(
                "The token is invalid or revoked; issue a new one with "
                "`manage.py issue_token USERNAME`."
            )
        return user, key

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


def staff_required(request, message: str) -> None:
    """403 `forbidden` (details.reason "staff_only") unless the caller is staff."""
    if not request.user.is_staff:
        raise Forbidden(message, {"reason": "staff_only"})
