"""What apps built on runs (evidence) use of its HTTP layer: one deliberate surface, so that
the rest of runs/http stays free to change. Those apps add their own error classes and run
links here (from their AppConfig.ready); runs itself never names them."""

from .api import visible_run
from .docs import SHA256, TERMINAL_CHOICES, const, named, nullable, run_event
from .errors import TABLE
from .inputs import DownloadQueryIn, command_field, documented
from .negotiation import AnyAccept
from .schema import WHEN, errors
from .serializers import RUN_LINKS

# visible_run: the 404-or-run rule; DownloadQueryIn: ?download=1; AnyAccept: documents with one
# form; errors(): documented error responses; the rest: shapes shared with the run's (schema).
__all__ = [
    "SHA256",
    "AnyAccept",
    "TERMINAL_CHOICES",
    "DownloadQueryIn",
    "command_field",
    "const",
    "documented",
    "error_add",
    "errors",
    "named",
    "nullable",
    "run_event",
    "run_link_add",
    "visible_run",
]


def error_add(cls: type, *, status: int, code: str, when: str) -> None:
    """A domain error of another app joins the one error table; `when` documents the code in
    the schema (`errors(code)`)."""
    TABLE[cls] = (status, code)
    WHEN[code] = when


def run_link_add(key: str, url_name: str) -> None:
    """The run object's `links[key]`: the URL named `url_name` for the run (kwarg run_id)."""
    RUN_LINKS[key] = url_name
