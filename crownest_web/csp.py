"""A strict Content-Security-Policy on every response: defence in depth for pages that show
user text (logs, commands, file names, test reports). Everything is escaped when it is drawn;
should an escape ever be missed, the browser still runs no script and loads nothing that is not
this site's own: no inline script or style, no third-party origin, no plugins, no framing.

Pages keep to it by having no inline <script>, <style>, style="" or on*="" at all: scripts and
styles are static files, and scripts set styles through the CSSOM (element.style), which the
policy allows. The one widening is `'wasm-unsafe-eval'` for the view marked by
`csp_allow_wasm` (the new-run page hashes archives with WebAssembly); it allows compiling
WebAssembly, never JavaScript eval. That page may also connect to the object storage that takes
presigned parts (the bucket's endpoint), when it is configured."""

from functools import wraps
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.deprecation import MiddlewareMixin

HEADER = "Content-Security-Policy"

DIRECTIVES = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    # 'self' covers the same host's ws:// and wss:// in CSP 3 browsers (the run page's socket).
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def storage_origin() -> str:
    """The object storage origin that the new-run page PUTs presigned parts to, if any."""
    if not (settings.CROWNEST_S3_BUCKET and settings.CROWNEST_TRANSFER_PRESIGNED):
        return ""
    options = settings.STORAGES.get("default", {}).get("OPTIONS", {})
    url = settings.CROWNEST_S3_PUBLIC_ENDPOINT_URL or options.get("endpoint_url") or ""
    if not url:
        return "https://*.amazonaws.com"
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def policy(*, wasm: bool = False, upload_to: str = "") -> str:
    directives = dict(DIRECTIVES)
    if wasm:
        directives["script-src"] += " 'wasm-unsafe-eval'"
    if upload_to:
        directives["connect-src"] += f" {upload_to}"
    return "; ".join(f"{name} {value}" for name, value in directives.items())


STRICT = policy()
WITH_WASM = policy(wasm=True)  # the new-run page without object storage


def csp_allow_wasm(view):
    """Mark a view whose page compiles WebAssembly."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response.csp_wasm = True
        return response

    return wrapped


class ContentSecurityPolicyMiddleware(MiddlewareMixin):
    """Sync and async capable (MiddlewareMixin), so the async SSE view stays unbuffered."""

    def process_response(self, request, response):
        if HEADER not in response:
            if getattr(response, "csp_wasm", False):  # the new-run page: it also uploads
                response[HEADER] = policy(wasm=True, upload_to=storage_origin())
            else:
                response[HEADER] = STRICT
        return response
