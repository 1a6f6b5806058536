"""Which request is which audited action: a table from URL names (and methods) to actions and
the object they act on. A state-changing request to a route not in the table is still recorded,
as `request.<method>.<url name>`, so a new route is never silently left out; the few routes
that are not actions of their own are listed in NOT_ACTIONS."""

from dataclasses import dataclass

from django.apps import apps
from django.contrib.admin.utils import unquote

from .audit import Pending

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Fact:
    """One audit row's what: the action, its object and what else the request said."""

    action: str
    object_type: str = ""
    object_id: str = ""
    details: dict | None = None
    outcome: str = ""  # set when the answer's status cannot tell (forms that always redirect)


@dataclass(frozen=True)
class Route:
    action: str
    object_type: str = ""
    kwarg: str = ""  # the URL kwarg naming the object
    created: str = ""  # the answer's field naming the object it created


API = {
    ("run-list", "POST"): Route("run.create", "run", created="id"),
    ("run-detail", "PATCH"): Route("run.pin", "run", "run_id"),
    ("run-detail", "DELETE"): Route("run.delete", "run", "run_id"),
    ("run-archive", "PUT"): Route("run.upload", "run", "run_id"),
    ("run-start", "POST"): Route("run.start", "run", "run_id"),
    ("run-cancel", "POST"): Route("run.cancel", "run", "run_id"),
    ("run-rerun", "POST"): Route("run.rerun", "run", "run_id"),
    ("run-transfers", "POST"): Route("transfer.create", "run", "run_id"),
    ("transfer", "DELETE"): Route("transfer.abort", "transfer", "transfer_id"),
    ("transfer-complete", "POST"): Route("transfer.complete", "transfer", "transfer_id"),
    ("templates", "POST"): Route("template.create", "template", created="name"),
    ("template-detail", "PATCH"): Route("template.patch", "template", "name"),
    ("template-retire", "POST"): Route("template.retire", "template", "name"),
    ("run-reviews", "POST"): Route("review.create", "run", "run_id"),
    ("run-review", "POST"): Route("review.create", "run", "run_id"),  # the run page's form
    ("password_change", "POST"): Route("auth.password_change", "user"),
    ("team-detail", "PATCH"): Route("quota.set", "team", "name"),
    ("user-detail", "PATCH"): Route("quota.set", "user", "username"),
}
NOT_ACTIONS = {
    ("transfer", "PUT"),  # one chunk of a transfer: its create and complete are the actions
    # Signing in and out are recorded by Django's signals (ops/receivers.py).
    ("login", "POST"),
    ("logout", "POST"),
    ("admin:login", "POST"),
    ("admin:logout", "POST"),
}

# Admin actions and views that are the same action as the API's.
ADMIN_ACTIONS = {
    ("runs.run", "cancel_runs"): "run.cancel",
    ("runs.run", "pin_runs"): "run.pin",
    ("runs.run", "unpin_runs"): "run.unpin",
    ("runs.run", "delete_selected"): "run.delete",
    ("runs.run", "delete"): "run.delete",
    ("runs.run", "run_reaper"): "reaper.run",
    ("runs.apitoken", "revoke"): "token.revoke",
    ("runs.template", "add"): "template.create",
    ("runs.template", "change"): "template.patch",
    ("runs.templateversion", "retire"): "template.retire_version",
}
WITHOUT_OBJECT = {"reaper.run"}
OBJECT_TYPES = {
    "runs.run": "run",
    "runs.apitoken": "token",
    "runs.template": "template",
    "runs.templateversion": "template_version",
    "runs.team": "team",
    "evidence.evidencekey": "evidence_key",
    "auth.user": "user",
}
VERDICTS = {"approve", "reject"}


def drf_data(response) -> dict:
    """The body DRF parsed for the view (only if the view read it), else {}."""
    request = (getattr(response, "renderer_context", None) or {}).get("request")
    data = getattr(request, "_full_data", None)
    return data if isinstance(data, dict) else {}


def response_field(response, name: str) -> str:
    data = getattr(response, "data", None)
    value = data.get(name) if isinstance(data, dict) else None
    return str(value) if isinstance(value, str | int) else ""


def api_facts(request, response, match, notes: Pending) -> list[Fact] | None:
    key = (match.view_name, request.method)
    if key in NOT_ACTIONS:
        return None
    route = API.get(key)
    if route is None:
        return [Fact(f"request.{request.method.lower()}.{match.view_name}")]
    object_id = match.kwargs.get(route.kwarg, "") if route.kwarg else ""
    if route.created:  # the answer's id, else what the (hostile) body asked for
        asked = drf_data(response).get(route.created)
        object_id = response_field(response, route.created) or (
            asked if isinstance(asked, str) else ""
        )
    action, details, outcome = route.action, {}, ""
    if route.action == "run.pin":
        pinned = drf_data(response).get("pinned")  # hostile: anything JSON can say
        action = (
            ("run.pin" if pinned else "run.unpin") if isinstance(pinned, bool) else "run.update"
        )
    elif route.action == "run.rerun" and response.status_code < 400:
        details["newRunId"] = response_field(response, "id")
    elif route.action == "quota.set":  # what the service noted: before and after
        details = {k: v for k, v in notes.notes.items() if k in ("before", "after")}
    elif route.action == "review.create":
        action, details, outcome = _review(request, response, match, notes)
    return [Fact(action, route.object_type, str(object_id)[:100], details, outcome)]


def _review(request, response, match, notes: Pending):
    verdict = notes.notes.get("verdict") or drf_data(response).get("verdict")
    verdict = verdict if isinstance(verdict, str) else ""  # the body is hostile
    if match.view_name == "run-review":  # a form: its answer redirects whether it worked or not
        verdict = verdict or request.POST.get("verdict")
        outcome = "ok" if "reviewId" in notes.notes else "refused"
    else:
        outcome = ""
    action = f"review.{verdict}" if verdict in VERDICTS else "review.create"
    details = {"reviewId": notes.notes["reviewId"]} if "reviewId" in notes.notes else {}
    return action, details, outcome


def _models() -> dict[str, str]:
    return {
        f"{m._meta.app_label}_{m._meta.model_name}": m._meta.label_lower for m in apps.get_models()
    }


def admin_facts(request, response, match, notes: Pending) -> list[Fact] | None:
    name = match.url_name
    if (match.view_name, request.method) in NOT_ACTIONS:
        return None
    if name.endswith("_password_change"):  # a user's password set by staff
        return [Fact("user.password_set", "user", unquote(match.kwargs.get("id", "")))]
    prefix, _, view = name.rpartition("_")
    label = _models().get(prefix)
    if label is None or view not in {"changelist", "add", "change", "delete"}:
        return [Fact(f"admin.{name}"[:64])]
    post, details = request.POST, {"via": "admin"}
    if view == "changelist" and post.get("action"):
        step = post["action"][:40]
        if step == "delete_selected" and not post.get("post"):
            return None  # the confirmation page; the second POST deletes
        ids = notes.objects or post.getlist("_selected_action")[:1000]
        if post.get("select_across") == "1":
            details["selectAcross"] = True
    else:
        step = "change" if view == "changelist" else view
        kwarg = match.kwargs.get("object_id")
        ids = [unquote(kwarg)] if kwarg else notes.objects
    action = ADMIN_ACTIONS.get((label, step), f"admin.{step}")
    kind = OBJECT_TYPES.get(label, label)
    if action in WITHOUT_OBJECT or not ids:
        return [Fact(action, kind, "", details)]
    return [Fact(action, kind, str(i)[:100], details) for i in ids]


def facts_for(request, response, notes: Pending) -> list[Fact] | None:
    """The audit rows' facts for a state-changing request, or None when it is not an action."""
    match = getattr(request, "resolver_match", None)
    if match is None or request.method not in WRITES:
        return None
    if match.namespace == "admin":
        return admin_facts(request, response, match, notes)
    return api_facts(request, response, match, notes)


def outcome_of(request, response, fact: Fact) -> str:
    if fact.outcome:
        return fact.outcome
    status = response.status_code
    data = getattr(response, "data", None)
    if status >= 400:
        error = data.get("error") if isinstance(data, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        return str(code)[:64] if code else f"http_{status}"
    if status == 200 and not request.path.startswith("/api/"):
        return "invalid"  # a form shown again with its errors: nothing changed
    return "ok"
