"""`Cache-Control: private, no-store` on every answer that does not set its own.

Everything this server answers besides static files is for one user: run lists and pages, API
answers, evidence, event logs, artifact bytes, even errors that say whether an id exists. No
shared cache (a proxy, a CDN) may keep any of it, and no browser may keep it on disk after the
user signed out. A view that knows better says so itself (the SSE stream: `no-cache`). Static
files are answered by WhiteNoise, before this middleware, with their own long-lived headers."""

from django.utils.deprecation import MiddlewareMixin

HEADER = "Cache-Control"
PRIVATE = "private, no-store"


class PrivateNoStoreMiddleware(MiddlewareMixin):
    """Sync and async capable (MiddlewareMixin), so the async SSE view stays unbuffered."""

    def process_response(self, request, response):
        if HEADER not in response:
            response[HEADER] = PRIVATE
        return response
