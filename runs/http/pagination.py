"""Page-number pagination for list answers: {count, page, pageSize, next, previous, results}.

`page` and `pageSize` arrive validated (runs/http/inputs/query.py). A page past the last one is an
empty page (count still says how many there are), not an error: a list that shrinks while a
client walks it must not turn into 404s."""

import copy
from dataclasses import dataclass

from rest_framework import serializers
from rest_framework.utils.urls import replace_query_param

from .shapes import absolute, named, nullable


@dataclass
class Page:
    count: int
    page: int
    page_size: int
    next: str | None
    previous: str | None
    results: list


def page_link(request, page: int) -> str:
    url = absolute(request, request.get_full_path())
    return replace_query_param(url, "page", page)


def page_of(request, qs, page: int, page_size: int) -> Page:
    count = qs.count()
    start = (page - 1) * page_size
    results = list(qs[start : start + page_size]) if start < count else []
    last = max((count + page_size - 1) // page_size, 1)
    return Page(
        count=count,
        page=page,
        page_size=page_size,
        next=page_link(request, page + 1) if page < last else None,
        previous=page_link(request, min(page - 1, last)) if page > 1 else None,
        results=results,
    )


def paged(name: str, results: serializers.Field, *, max_page_size: int = 100) -> type:
    """The page serializer (schema component `name`) that renders a Page of `results`."""
    fields = {
        "count": serializers.IntegerField(min_value=0),
        "page": serializers.IntegerField(min_value=1),
        "pageSize": serializers.IntegerField(
            min_value=1, max_value=max_page_size, source="page_size"
        ),
        "next": nullable(serializers.URLField, help_text="the next page, or null on the last one"),
        "previous": nullable(
            serializers.URLField, help_text="the page before, or null on the first"
        ),
        # A copy made now: DRF orders a serializer's fields by when each was made, and the
        # answer's keys keep this order (results last).
        "results": copy.deepcopy(results),
    }
    return named(name)(type(name + "Out", (serializers.Serializer,), fields))
