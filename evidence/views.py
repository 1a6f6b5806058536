"""Pages for team leads: the review queue and the review form posted from the run page."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from runs import selectors
from runs.errors import ApiError

from . import reviews


@login_required
def review_queue(request):
    return render(
        request,
        "evidence/queue.html",
        {
            "runs": reviews.review_queue(request.user)[:200],
            "is_reviewer": reviews.is_reviewer(request.user),
        },
    )


@login_required
@require_POST
def review_submit(request, run_id):
    run = selectors.run_for(request.user, run_id)
    if run is None:
        raise Http404("No such run.")
    try:
        reviews.review_create(
            run=run,
            reviewer=request.user,
            verdict=request.POST.get("verdict", ""),
            comment=request.POST.get("comment", ""),
        )
    except ApiError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Review recorded.")
    return redirect(f"/runs/{run.id}#review")
