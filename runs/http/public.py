"""What apps built on runs (evidence) use of its HTTP layer: one deliberate surface, so that
the rest of runs/http stays free to change. Those apps add their own error classes and run
links here (from their AppConfig.ready); runs itself never names them."""

from .api import visible_run
from .errors import TABLE
from .inputs import DownloadQueryIn
from .schema import WHEN, errors
from .serializers import RUN_LINKS

__all__ = ["DownloadQueryIn", "error_add", "errors", "run_link_add", "visible_run"]


def error_add(cls: type, *, status: int, code: str, when: str) -> None:
    """A domain error of another app joins the one error table; `when` documents the code in
    the schema (`errors(code)`)."""
    TABLE[cls] = (status, code)
    WHEN[code] = when


def run_link_add(key: str, url_name: str) -> None:
    """The run object's `links[key]`: the URL named `url_name` for the run (kwarg run_id)."""
    RUN_LINKS[key] = url_name
