"""The run page's Evidence Bundle and Review panel, drawn by the evidence app, so that the run
pages (runs/http/pages.py) never import evidence."""

import base64
import json

from django import template

from .. import reviews
from ..models import Attestation, EvidenceBundle

register = template.Library()


@register.inclusion_tag("evidence/_run_evidence.html", takes_context=True)
def run_evidence(context, run):
    user = context["request"].user
    bundle = EvidenceBundle.objects.filter(run=run).first() if run.is_terminal else None
    signed = Attestation.objects.filter(bundle=bundle).first() if bundle else None
    return {
        "run": run,
        "bundle": bundle,
        "signed": signed,
        "reviews": [(r, reviews.review_void(r)) for r in reviews.run_reviews(run)],
        "can_review": bundle is not None and reviews.can_review(user, run),
        "csrf_token": context.get("csrf_token"),
    }


@register.filter
def dsse_statement(envelope) -> str:
    """The in-toto Statement inside a stored DSSE envelope, as indented JSON, for reading. It
    proves nothing by itself: evidence_verify.js checks the signature over it in the browser."""
    try:
        payload = base64.b64decode(json.loads(envelope)["payload"], validate=True)
        return json.dumps(json.loads(payload), indent=2, ensure_ascii=False)
    except (ValueError, KeyError, TypeError):
        return ""
