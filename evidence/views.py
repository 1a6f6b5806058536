"""Pages for team leads: the review queue and the review form posted from the run page."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from runs import selectors
from runs.errors import DomainError

from . import reviews
from .serializers import ReviewIn


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
    form = ReviewIn(data=request.POST.dict())
    try:
        reviews.review_require(run=run, reviewer=request.user)
        if not form.is_valid():
            messages.error(
                request, "Choose Approve or Reject; a comment has at most 10,000 characters."
            )
            return redirect(f"/runs/{run.id}#review")
        reviews.review_create(run=run, reviewer=request.user, **form.validated_data)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Review recorded.")
    return redirect(f"/runs/{run.id}#review")
