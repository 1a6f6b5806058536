"""Server-rendered pages (session auth). Same scoping as the API: others' runs are 404."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.utils import timezone

from crownest_web.csp import csp_allow_wasm

from .. import selectors
from ..egress.selectors import network_panel
from ..ids import iso
from ..models import Membership, Run, RunEvent
from ..scheduling.queue import queue_info
from . import charts, run_view
from .usage_panel import usage_panel

PAGE_SIZE = 20


def _filtered_runs(request):
    q = request.GET
    qs = selectors.run_list(
        request.user,
        status=q.get("status") or None,
        team=q.get("team") or None,
        owner=q.get("owner") or None,
    )
    search = q.get("q", "").strip()
    if search:
        # The command is JSON (a string or argv); its text form is what people search.
        qs = qs.annotate(command_text=Cast("command", TextField())).filter(
            Q(id__icontains=search) | Q(command_text__icontains=search)
        )
    return qs


def _with_durations(runs):
    now = timezone.now()
    for run in runs:
        end = run.finished_at or (now if run.status == Run.Status.RUNNING else None)
        run.duration = (end - run.started_at).total_seconds() if run.started_at and end else None
    return runs


@login_required
def home(request):
    page = Paginator(_filtered_runs(request), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "runs": _with_durations(list(page.object_list)),
        "server_now": iso(timezone.now()),
    }
    if request.GET.get("fragment") == "table":
        # The list polls this fragment while runs progress.
        return render(request, "runs/_table.html", context)
    query = request.GET.copy()
    query.pop("page", None)
    ended = selectors.runs_visible_to(request.user).filter(status__in=Run.TERMINAL)[:40]
    context.update(
        {
            "statuses": Run.Status.values,
            "teams": Membership.objects.filter(user=request.user).select_related("team"),
            "filters": request.GET,
            "query": query.urlencode(),
            "chart": charts.durations_svg(ended),
            **usage_panel(request.user),
        }
    )
    return render(request, "runs/list.html", context)


@login_required
@csp_allow_wasm  # hash-wasm hashes the archive in the browser with WebAssembly
def new_run(request):
    return render(
        request,
        "runs/new.html",
        {
            "teams": Membership.objects.filter(user=request.user).select_related("team"),
            "direct_limit": settings.CROWNEST_DIRECT_UPLOAD_LIMIT,
        },
    )


def _visible(request, run_id):
    run = selectors.run_for(request.user, run_id)
    if run is None:
        raise Http404("No such run.")
    return run


def _panels(request, run):
    artifacts = list(run.artifacts.all())
    return {
        "run": run,
        "artifacts": artifacts,
        "phases": run_view.phase_timeline(run),
        "duration": _with_durations([run])[0].duration,
        "limits": run_view.limits_text(run),
        "failure": run_view.failure_text(run),
        "queue": queue_info(run),
        "tests": run_view.test_results(run, artifacts),
        "server_now": iso(timezone.now()),
        **network_panel(run),
        **run_view.rerun_links(request.user, run),
    }


@login_required
def run_page(request, run_id):
    run = _visible(request, run_id)
    return render(request, "runs/detail.html", _panels(request, run))


@login_required
def run_panels(request, run_id):
    """The parts of the run page that change when the run does (the header above the log and
    the panels below it); the page re-fetches them."""
    run = _visible(request, run_id)
    return render(request, "runs/_refresh.html", _panels(request, run))


def favicon(request):
    """Browsers ask for /favicon.ico on pages that name no icon (the admin, the API docs)."""
    return redirect(static("favicon.ico"), permanent=True)


@login_required
def run_log(request, run_id):
    """The raw output, stdout and stderr interleaved in seq order, as one text file."""
    run = _visible(request, run_id)
    events = (
        RunEvent.objects.filter(run=run, type__in=("stdout", "stderr"))
        .order_by("seq")
        .values_list("data", flat=True)
        .iterator(chunk_size=2000)
    )
    resp = StreamingHttpResponse(
        (d.get("text", "") for d in events), content_type="text/plain; charset=utf-8"
    )
    resp["Content-Disposition"] = f'attachment; filename="{run.id}.log"'
    return resp
