"""Server-rendered pages (session auth). Same scoping as the API: others' runs are 404."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from . import selectors


@login_required
def home(request):
    runs = selectors.run_list(request.user)[:50]
    return render(request, "runs/list.html", {"runs": runs})


@login_required
def run_page(request, run_id):
    run = selectors.run_for(request.user, run_id)
    if run is None:
        raise Http404("No such run.")
    events = selectors.events_after(run.id, 0, 5000)
    return render(
        request,
        "runs/detail.html",
        {"run": run, "events": events, "artifacts": run.artifacts.all()},
    )
