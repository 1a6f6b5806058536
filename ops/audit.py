"""Writing the audit log (docs/operations.md, "Audit"). Requests are recorded by one middleware
(ops/middleware.py, with the table in ops/audit_routes.py); sign-ins by Django's signals; an
operator's commands (issue_token, evidence_keys) call `audit_system` themselves. Code inside a
request may add what only it knows (the objects an admin view changed, a review's verdict) to
the row that request will write: `note` and `note_object`."""

import contextvars
import getpass
import logging
import socket
from dataclasses import dataclass, field

from django.conf import settings

from runs.models import ApiToken

from . import logs
from .models import AuditEntry

log = logging.getLogger(__name__)


@dataclass
class Pending:
    """What the code handling one audited request noted for its row."""

    objects: list[str] = field(default_factory=list)
    notes: dict = field(default_factory=dict)


pending: contextvars.ContextVar[Pending | None] = contextvars.ContextVar(
    "crownest_audit_pending", default=None
)


def note(**facts) -> None:
    if (current := pending.get()) is not None:
        current.notes.update(facts)


def note_object(object_id) -> None:
    if (current := pending.get()) is not None and len(current.objects) < 1000:
        current.objects.append(str(object_id))


def client_of(request) -> dict:
    meta = request.META
    return {
        "address": str(meta.get("REMOTE_ADDR") or "")[:64],
        "user_agent": str(meta.get("HTTP_USER_AGENT") or "")[:300],
        "request_id": getattr(request, "request_id", "") or logs.request_id.get(),
    }


def token_id_of(auth) -> int | None:
    """The ApiToken behind a request's credentials (DRF's request.auth: the key, or the row)."""
    if isinstance(auth, ApiToken):
        return auth.pk
    if isinstance(auth, str) and auth:
        rows = ApiToken.objects.filter(key_hash=ApiToken.hash_key(auth))
        return rows.values_list("pk", flat=True).first()
    return None


def actor_of(user) -> dict:
    if user is None or not getattr(user, "is_authenticated", False):
        return {"actor": "", "actor_id": None, "staff": False}
    return {"actor": user.get_username()[:150], "actor_id": user.pk, "staff": bool(user.is_staff)}


def clean(value):
    """Text PostgreSQL can store: a hostile name may carry NUL, which no text column takes."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {clean(k): clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


def audit_record(
    *,
    action: str,
    object_type: str = "",
    object_id="",
    outcome: str = "ok",
    request=None,
    user=None,
    status_code: int | None = None,
    details: dict | None = None,
    **fields,
) -> AuditEntry | None:
    """One row. A failure to write it is logged, never raised: the action has happened."""
    if not settings.CROWNEST_AUDIT_ENABLED:
        return None
    row = {"request_id": logs.request_id.get()}
    if request is not None:
        row.update(client_of(request))
        row.update(actor_of(getattr(request, "user", None)))
        row["token_id"] = token_id_of(getattr(request, "auth", None))
    if user is not None:
        row.update(actor_of(user))
    row.update(fields)
    try:
        return AuditEntry.objects.create(
            action=clean(action)[:64],
            object_type=clean(object_type)[:40],
            object_id=clean(str(object_id))[:100],
            outcome=clean(outcome)[:64],
            status_code=status_code,
            details=clean(details or {}),
            **clean(row),
        )
    except Exception:
        log.exception("could not write the audit row for %s %s", action, object_id)
        return None


def audit_system(
    action: str, object_type: str, object_id, *, command: str, details: dict | None = None
):
    """An operator's command on a host (manage.py COMMAND): the actor is the OS user running it."""
    return audit_record(
        action=action,
        object_type=object_type,
        object_id=object_id,
        details={"host": socket.gethostname(), **(details or {})},
        actor=f"system:{getpass.getuser()}"[:150],
        staff=True,
        user_agent=f"manage.py {command}"[:300],
    )


def audit_token_issued(key: str, *, user, created_user: bool = False) -> None:
    token = ApiToken.objects.filter(key_hash=ApiToken.hash_key(key)).first()
    details = {"user": user.get_username(), "prefix": token.prefix if token else ""}
    if created_user:
        details["createdUser"] = True
    audit_system(
        "token.issue", "token", token.pk if token else "", command="issue_token", details=details
    )
