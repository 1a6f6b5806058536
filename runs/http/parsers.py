"""A JSON parser that refuses a body over CROWNEST_MAX_JSON_BODY before reading it whole.

DRF's JSONParser gets the whole body (DRF reads `request.body` for it), and with
DATA_UPLOAD_MAX_MEMORY_SIZE = None (archives stream through other views) nothing bounds that.
This parser is not a JSONParser subclass on purpose: DRF then hands it the request's stream,
which it reads in pieces, stopping one byte past the limit."""

from django.conf import settings
from rest_framework import renderers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser
from rest_framework.utils import json

from ..errors import InvalidRequest

PIECE = 64 * 1024


def too_large(limit: int, size: int | None = None) -> InvalidRequest:
    said = f" ({size} bytes)" if size is not None else ""
    problem = f"is larger than this API's limit of {limit} bytes for a JSON body"
    return InvalidRequest(
        f"The request body{said} {problem}; archives go through PUT .../archive or a staged "
        "transfer, never inside JSON.",
        {"fields": {"body": [problem]}, "limitBytes": limit},
    )


def read_bounded(stream, limit: int) -> bytes:
    """At most `limit` bytes of the stream; InvalidRequest as soon as there is more."""
    pieces, size = [], 0
    while piece := stream.read(min(PIECE, limit + 1 - size)):
        pieces.append(piece)
        size += len(piece)
        if size > limit:
            raise too_large(limit)
    return b"".join(pieces)


def declared_length(parser_context) -> int | None:
    request = (parser_context or {}).get("request")
    try:
        return int(request.META.get("CONTENT_LENGTH") or "") if request is not None else None
    except ValueError:
        return None


class BoundedJSONParser(BaseParser):
    media_type = "application/json"
    renderer_class = renderers.JSONRenderer

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.CROWNEST_MAX_JSON_BODY
        length = declared_length(parser_context)
        if length is not None and length > limit:
            raise too_large(limit, length)  # refused on the header, the body is never read
        raw = read_bounded(stream, limit) if stream is not None else b""
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = raw.decode(encoding)
        except (LookupError, UnicodeError) as exc:
            raise ParseError(f"JSON parse error - the body is not valid {encoding}") from exc
        try:
            data = json.loads(text, parse_constant=json.strict_constant)
            # "\\ud800" is valid JSON but no text: PostgreSQL, the sandbox's environment and
            # UTF-8 output cannot hold a lone surrogate, so no field may carry one.
            json.dumps(data, ensure_ascii=False).encode()
        except RecursionError as exc:
            raise ParseError("JSON parse error - the body nests too deeply") from exc
        except UnicodeEncodeError as exc:
            raise ParseError(
                "JSON parse error - a string holds a lone surrogate (such as \\ud800), "
                "which is not Unicode text"
            ) from exc
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        return data
