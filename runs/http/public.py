"""What apps built on runs (evidence) use of its HTTP layer: one deliberate surface, so that
the rest of runs/http stays free to change. Those apps add their own error classes and run
links here (from their AppConfig.ready); runs itself never names them."""

from .api import visible_run
from .error_table import error_add
from .event_out import TERMINAL_CHOICES, run_event
from .inputs import DownloadQueryIn, command_field, documented
from .negotiation import AnyAccept
from .schema import errors
from .serializers import RUN_LINKS
from .shapes import SHA256, Timestamp, blank_null, const, named, nullable, sha256

# visible_run: the 404-or-run rule; DownloadQueryIn: ?download=1; AnyAccept: documents with one
# form; errors(): documented error responses; error_add: a row of the error table; the rest:
# what output serializers are made of, and shapes shared with the run's (schema).
__all__ = [
    "SHA256",
    "AnyAccept",
    "TERMINAL_CHOICES",
    "DownloadQueryIn",
    "Timestamp",
    "blank_null",
    "command_field",
    "const",
    "documented",
    "error_add",
    "errors",
    "named",
    "nullable",
    "run_event",
    "run_link_add",
    "sha256",
    "visible_run",
]


def run_link_add(key: str, url_name: str) -> None:
    """The run object's `links[key]`: the URL named `url_name` for the run (kwarg run_id)."""
    RUN_LINKS[key] = url_name
