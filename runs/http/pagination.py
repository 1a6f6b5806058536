"""Page-number pagination for list answers: {count, page, pageSize, next, previous, results}.

`page` and `pageSize` arrive validated (runs/http/inputs/query.py). A page past the last one is an
empty page (count still says how many there are), not an error: a list that shrinks while a
client walks it must not turn into 404s."""

from rest_framework.utils.urls import replace_query_param

from .serializers import absolute


def page_link(request, page: int) -> str:
    url = absolute(request, request.get_full_path())
    return replace_query_param(url, "page", page)


def page_of(request, qs, page: int, page_size: int) -> dict:
    count = qs.count()
    start = (page - 1) * page_size
    results = list(qs[start : start + page_size]) if start < count else []
    last = max((count + page_size - 1) // page_size, 1)
    return {
        "count": count,
        "page": page,
        "pageSize": page_size,
        "next": page_link(request, page + 1) if page < last else None,
        "previous": page_link(request, min(page - 1, last)) if page > 1 else None,
        "results": results,
    }
