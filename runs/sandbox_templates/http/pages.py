"""The templates' pages: what each template contains, its versions, and the current build's
phase and log, refreshed while it builds (static/js/template.js)."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from .. import selectors
from .out import template_json, version_json

PHASES = {
    "queued": "waiting for a worker",
    "rootfs": "unpacking the base image (or debootstrap)",
    "apt": "installing Debian packages",
    "pip": "installing pip packages",
    "npm": "installing npm packages",
    "finish": "cleaning up the root filesystem",
    "import": "importing the image into Docker",
}


def _context(name: str) -> dict:
    template = selectors.template_get(name)
    if template is None:
        raise Http404("No such template.")
    data = template_json(template, detail=True)
    progress = data["progress"] or {}
    return {
        "template": template,
        "t": data,
        "versions": [version_json(v) for v in template.versions.order_by("-number")],
        "phase_text": PHASES.get(progress.get("phase"), progress.get("phase") or ""),
        "progress": progress,
    }


@login_required
def template_list(request):
    return render(
        request,
        "sandbox_templates/list.html",
        {"templates": [template_json(t) for t in selectors.template_all()]},
    )


@login_required
def template_page(request, name):
    return render(request, "sandbox_templates/detail.html", _context(name))


@login_required
def template_panel(request, name):
    """The part of the page that changes while a version builds; the page re-fetches it."""
    return render(request, "sandbox_templates/_panel.html", _context(name))
