"""One request of a run's network log: its shape, as the proxy writes it (one JSON object per
line of the run's spool log) and as the API, the NDJSON log and the evidence show it.
Standard library only (the proxy process writes it)."""

import json
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

ALLOWED, REFUSED, REPLAYED = "allowed", "refused", "replayed"
# Query parameters that carry credentials (tokens, presigned signatures): their values never
# reach the log, the evidence or a replay key.
SECRET_PARAMS = {
    "access_token", "api_key", "apikey", "auth", "client_secret", "key", "password", "passwd",
    "pwd", "secret", "sig", "signature", "token", "x-amz-credential", "x-amz-security-token",
    "x-amz-signature", "x-goog-credential", "x-goog-signature",
}  # fmt: skip
REDACTED = "REDACTED"
# Response headers kept so that a replay answers like the original did.
REPLAY_HEADERS = ("content-type", "content-encoding", "location", "etag", "last-modified")
MAX_URL = 4096


def url_scrub(url: str) -> str:
    """The URL without userinfo and with credential parameters' values replaced."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url[:MAX_URL]
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port else host
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(k.lower() in SECRET_PARAMS for k, _ in pairs):
            query = urlencode(
                [(k, REDACTED if k.lower() in SECRET_PARAMS else v) for k, v in pairs]
            )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))[:MAX_URL]


def entry_make(
    *,
    seq: int,
    method: str,
    url: str,
    decision: str,
    host: str,
    status: int | None = None,
    size: int = 0,
    sha256: str = "",
    content_type: str = "",
    duration_ms: int = 0,
    reason: str = "",
    headers: dict | None = None,
) -> dict:
    return {
        "seq": seq,
        "method": method[:16],
        "url": url_scrub(url),
        "host": host[:255],
        "status": status,
        "bytes": size,
        "sha256": sha256,
        "contentType": content_type[:200],
        "durationMs": duration_ms,
        "decision": decision,
        "reason": reason[:500],
        "headers": headers or {},
    }


def entry_line(entry: dict) -> bytes:
    return json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def replay_key(method: str, url: str) -> str:
    return f"{method.upper()} {url_scrub(url)}"
