from rest_framework import authentication, exceptions

from ..tokens import bearer_key, token_user
from . import schema  # noqa: F401  (registers the Bearer scheme with drf-spectacular)


class BearerTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION")
        if not header:
            return None
        key = bearer_key(header)
        user = token_user(key) if key else None
        if user is None:
            raise exceptions.AuthenticationFailed(
                "The token is invalid or revoked; issue a new one with "
                "`manage.py issue_token USERNAME`."
            )
        return user, key

    def authenticate_header(self, request):
        return 'Bearer realm="api"'
