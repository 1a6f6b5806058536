"""Content negotiation for calls that answer one fixed form (a file's bytes, a stored document)."""

from rest_framework.negotiation import BaseContentNegotiation


class AnyAccept(BaseContentNegotiation):
    """These answers have one form; a client's Accept header never turns them into a 406. An
    artifact download is the file's own bytes whatever the client asks for (`Accept:
    application/octet-stream`, `text/plain`, a browser's list); its errors are JSON envelopes."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type
