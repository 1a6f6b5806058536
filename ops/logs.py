"""Log lines that name the run: the request id, run id and worker host of the code that logs,
kept in context variables (a request's task in daphne, a task in a Celery worker) and added to
every record. CROWNEST_LOG_FORMAT=json writes one JSON object per line; text stays readable,
with the same names appended, so `grep wr_…` over every host's logs tells a run's whole story."""

import contextvars
import json
import logging
from datetime import UTC, datetime

request_id = contextvars.ContextVar("crownest_request_id", default="")
run_id = contextvars.ContextVar("crownest_run_id", default="")
task_id = contextvars.ContextVar("crownest_task_id", default="")
# Set once in a worker host's processes (ops/worker.py); the web process is no worker host.
_process = {"worker_host": ""}

CONTEXT = ("request_id", "run_id", "worker_host", "task_id")


def worker_host_set(name: str) -> None:
    _process["worker_host"] = name


class ContextFilter(logging.Filter):
    """Adds the context's names to each record (never overriding what the call passed)."""

    def filter(self, record: logging.LogRecord) -> bool:
        values = {
            "request_id": request_id.get(),
            "run_id": run_id.get(),
            "worker_host": _process["worker_host"],
            "task_id": task_id.get(),
        }
        for name, value in values.items():
            if not getattr(record, name, ""):
                setattr(record, name, value)
        return True


def _context(record: logging.LogRecord) -> dict:
    return {name: value for name in CONTEXT if (value := getattr(record, name, ""))}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_context(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The message as before, then `key=value` for each name the context knows."""

    def format(self, record: logging.LogRecord) -> str:
        return with_names(super().format(record), record)


def with_names(text: str, record: logging.LogRecord) -> str:
    names = " ".join(f"{k}={v}" for k, v in _context(record).items())
    if not names:
        return text
    first, newline, rest = text.partition("\n")  # after the message, before a traceback
    return f"{first} [{names}]{newline}{rest}"


class WithContext(logging.Formatter):
    """Another formatter's text (Celery's), then the context's names as TextFormatter adds them."""

    def __init__(self, inner: logging.Formatter | None):
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        return with_names(self.inner.format(record), record)


def add_context_to(handler: logging.Handler, *, json: bool) -> None:
    """Celery configures its own handlers: give each one the context, and the JSON format."""
    if not any(isinstance(f, ContextFilter) for f in handler.filters):
        handler.addFilter(ContextFilter())
    if json:
        handler.setFormatter(JsonFormatter())
    elif not isinstance(handler.formatter, WithContext | TextFormatter):
        handler.setFormatter(WithContext(handler.formatter))
