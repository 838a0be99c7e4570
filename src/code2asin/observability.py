"""Structured logs with bound context, secret redaction, and the process-local Prometheus metrics.

**Logs.** ``configure_logging(settings)`` installs one root handler that writes one JSON object per line
(or ``key=value`` pairs) with the dotted event name (``job.chunk.completed``), the logger, the level,
the context bound with ``bind(...)`` (``job_id``, ``chunk_no``, ``worker``) and the record's ``extra``.
A redaction filter on that handler masks secrets in every record, ours and third-party ones:
``Authorization``/bearer values, API tokens (``c2a_...``), and values whose key names a secret.
Call it once per process: ``code2asin serve`` before ``uvicorn.run`` (with ``log_config=None``); Celery
workers get it from ``instrument_celery`` through Celery's ``setup_logging`` signal.

**Metrics.** Counters and histograms live in this process's ``PROCESS_REGISTRY`` and are served on
``/metrics`` next to the database gauges of ``code2asin.api.metrics``:

| series | labels | where it is counted |
|---|---|---|
| ``code2asin_codes_processed_total`` | outcome | ``ChunkRunner._commit`` (``count_rows``) |
| ``code2asin_provider_calls_total`` | provider, operation, status | ``ChunkRunner._with_retries`` |
| ``code2asin_provider_call_duration_seconds`` | provider, operation | ``ChunkRunner._with_retries`` |
| ``code2asin_chunk_takeovers_total`` | | ``ChunkRunner.run_chunk``: a lost run's chunk leased again |
| ``code2asin_redone_provider_calls_total`` | provider, operation | calls made by such a takeover run |
| ``code2asin_chunk_duration_seconds`` | outcome | ``ChunkRunner.run_chunk`` (``observed_chunk``) |

``status`` is ``ok`` or the error class (``network``, ``api_rate_limit`` = HTTP 429, ``invalid_data``,
``unknown``, ``configuration``). A Celery worker is another process, often on another host: its
counters are served by the worker itself (``start_metrics_server``, port from
``settings.worker.metrics_port``). With the prefork pool set ``PROMETHEUS_MULTIPROC_DIR`` to an empty
folder before the worker starts, so the pool children's samples are summed (prometheus_client
multiprocess mode); with ``--pool threads`` nothing else is needed.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import wraps
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import Metric

from code2asin.errors import ConfigurationError, ErrorType, ProviderError

if TYPE_CHECKING:
    from code2asin.config import Settings

# -- bound context ---------------------------------------------------------------------------------------

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_CONTEXT: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "code2asin_log_context", default=_EMPTY
)


@contextmanager
def bind(**values: Any) -> Iterator[None]:
    """Add ``values`` to every log record written inside the block (this thread or task only)."""
    token = _CONTEXT.set({**_CONTEXT.get(), **values})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def bound() -> dict[str, Any]:
    """The context bound at this point."""
    return dict(_CONTEXT.get())


class ContextFilter(logging.Filter):
    """Copies the bound context onto each record (without overwriting a record's own ``extra``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _CONTEXT.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


# -- redaction -------------------------------------------------------------------------------------------

REDACTED = "[REDACTED]"
#: key names whose values are secrets wherever they appear (extra fields, dict args, key=value text)
SECRET_KEY = re.compile(
    r"(authorization|password|passwd|secret|token|api[_-]?key|apikey|credential|cookie|signature)", re.I
)
_TEXT_PATTERNS = [
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + REDACTED),
    (re.compile(r"\bc2a_[A-Za-z0-9_-]+"), REDACTED),  # our API tokens
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),  # JWTs
    (re.compile(r"\bAtz[ar]\|[A-Za-z0-9._~+/=|-]+"), REDACTED),  # Login with Amazon tokens
    (
        re.compile(
            r"(?i)\b([\w-]*(?:authorization|password|secret|token|api[_-]?key|credential)[\w-]*)"
            r"(\s*[=:]\s*)(?!(?:bearer|basic)\s|\[REDACTED\])(\"[^\"]*\"|'[^']*'|[^\s,;&]+)"
        ),
        r"\1\2" + REDACTED,
    ),
    (re.compile(r"://([^:/@\s]+):([^@/\s]+)@"), r"://\1:" + REDACTED + "@"),  # URL passwords
]


def redact_text(text: str) -> str:
    """``text`` with bearer values, tokens, JWTs, ``secret=...`` pairs and URL passwords masked."""
    for pattern, replacement in _TEXT_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact(value: Any, key: str | None = None) -> Any:
    """``value`` with secrets masked: whole values under a secret key name, patterns inside strings."""
    if key is not None and SECRET_KEY.search(key) and value is not None:
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    return value


_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class RedactionFilter(logging.Filter):
    """Masks secrets in the message, its arguments and the extra fields of every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            try:
                record.msg = record.getMessage()
            except (TypeError, ValueError):
                record.msg = str(record.msg)
            record.args = None
        if isinstance(record.msg, str):
            record.msg = redact_text(record.msg)
        for key in list(record.__dict__):
            if key not in _STANDARD_ATTRS:
                record.__dict__[key] = redact(record.__dict__[key], key)
        if record.exc_info and not record.exc_text:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True


# -- formatters ------------------------------------------------------------------------------------------


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, event, logger, then the context and extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
            "logger": record.name,
        }
        body.update(_fields(record))
        exception = _exception_text(self, record)
        if exception:
            body["exception"] = exception
        return json.dumps(body, default=str, ensure_ascii=False)


def _exception_text(formatter: logging.Formatter, record: logging.LogRecord) -> str | None:
    """The record's traceback as text (already formatted once, or formatted now), or None."""
    if record.exc_text:
        return record.exc_text
    if record.exc_info:
        return formatter.formatException(record.exc_info)
    return None


class KeyValueFormatter(logging.Formatter):
    """``ts level event key=value ...`` for people reading a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        pairs = " ".join(f"{k}={json.dumps(v, default=str)}" for k, v in _fields(record).items())
        line = f"{ts} {record.levelname.lower():<7} {record.getMessage()} logger={record.name} {pairs}"
        exception = _exception_text(self, record)
        if exception:
            line += "\n" + exception
        return line.rstrip()


_HANDLER_NAME = "code2asin"


def configure_logging(
    settings: Settings | None = None, *, level: str | int | None = None, fmt: str | None = None
) -> logging.Handler:
    """Send every log record to standard error as JSON (or key=value), with context and redaction.

    ``level`` defaults to ``settings.log_level`` (else INFO), ``fmt`` to ``settings.log_format``
    (``json`` or ``keyvalue``; else json). Idempotent: calling it again replaces its own handler.
    Returns the handler.
    """
    chosen_level = level or getattr(settings, "log_level", None) or "INFO"
    chosen_fmt = (fmt or getattr(settings, "log_format", None) or "json").lower()
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactionFilter())
    handler.setFormatter(KeyValueFormatter() if chosen_fmt in ("keyvalue", "kv", "text") else JsonFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(chosen_level if isinstance(chosen_level, int) else str(chosen_level).upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "celery"):
        # one format for everything: their records reach the root handler instead of their own
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request would drown the events
    return handler


# -- metrics ---------------------------------------------------------------------------------------------

#: this process's counters and histograms (a registry of our own: no clash with other libraries' series)
PROCESS_REGISTRY = CollectorRegistry(auto_describe=True)

CODES_PROCESSED = Counter(
    "code2asin_codes_processed",
    "Rows ended by this process's chunk runs, by outcome (retry_scheduled: waits for a retry).",
    ["outcome"],
    registry=PROCESS_REGISTRY,
)
PROVIDER_CALLS = Counter(
    "code2asin_provider_calls",
    "Provider calls by provider, operation and status (ok or the error class; api_rate_limit = HTTP 429).",
    ["provider", "operation", "status"],
    registry=PROCESS_REGISTRY,
)
CHUNK_TAKEOVERS = Counter(
    "code2asin_chunk_takeovers",
    "Chunks this process took over after their lease expired (the run that held them was lost).",
    registry=PROCESS_REGISTRY,
)
REDONE_CALLS = Counter(
    "code2asin_redone_provider_calls",
    "Provider calls made by runs that took a lost run's chunk over: at most these codes were sent twice "
    "(a lost run's finished calls are in the lookup cache and are not repeated).",
    ["provider", "operation"],
    registry=PROCESS_REGISTRY,
)
PROVIDER_SECONDS = Histogram(
    "code2asin_provider_call_duration_seconds",
    "Duration of provider calls (batch calls, waiting for the rate limiter included).",
    ["provider", "operation"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=PROCESS_REGISTRY,
)
CHUNK_SECONDS = Histogram(
    "code2asin_chunk_duration_seconds",
    "Duration of chunk runs by outcome (done, waiting, released, skipped, job_failed, error).",
    ["outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
    registry=PROCESS_REGISTRY,
)

log = logging.getLogger("code2asin.observability")

T = TypeVar("T")


def observed_call(call: Callable[[], T]) -> T:
    """Run one provider call and count it by provider, operation and status.

    ``call`` is the runner's ``functools.partial`` of a provider's bound ``identify``/``enrich``: the
    provider (its ``name``) and the operation are read from it. Exceptions are re-raised unchanged.
    """
    func = getattr(call, "func", call)
    provider = str(getattr(getattr(func, "__self__", None), "name", "unknown"))
    operation = str(getattr(func, "__name__", "call"))
    started = time.perf_counter()
    status = "ok"
    try:
        answer = call()
    except ConfigurationError:
        status = "configuration"
        raise
    except ProviderError as exc:
        status = exc.error_type.value
        raise
    except Exception:
        status = "unknown"
        raise
    else:
        status = _answer_status(answer)
        return answer
    finally:
        PROVIDER_SECONDS.labels(provider, operation).observe(time.perf_counter() - started)
        PROVIDER_CALLS.labels(provider, operation, status).inc()
        if _CONTEXT.get().get("redo"):
            REDONE_CALLS.labels(provider, operation).inc()
        if status == "api_rate_limit":
            log.warning("provider.throttled", extra={"provider": provider, "operation": operation})


def _answer_status(answer: Any) -> str:
    """The status of a call that returned: ``api_rate_limit`` when any key was throttled (a provider may
    split a batch into several requests), the error class when every key failed, else ``ok``."""
    if not isinstance(answer, Mapping) or not answer:
        return "ok"
    errors = [getattr(v, "error", v) for v in answer.values()]
    typed = [e for e in errors if isinstance(e, ProviderError)]
    if any(e.error_type is ErrorType.API_RATE_LIMIT for e in typed):
        return ErrorType.API_RATE_LIMIT.value
    return typed[0].error_type.value if typed and len(typed) == len(errors) else "ok"


def count_rows(updates: list[dict[str, Any]]) -> None:
    """Count the rows a chunk just committed, by outcome (a pending row waits for a scheduled retry)."""
    for values in updates:
        status = str(values.get("status", "unknown"))
        CODES_PROCESSED.labels("retry_scheduled" if status == "pending" else status).inc()


class _ChunkRunnerLike(Protocol):
    worker_id: str


R = TypeVar("R", bound=_ChunkRunnerLike)
Out = TypeVar("Out")


def observed_chunk(method: Callable[[R, str, int], Out]) -> Callable[[R, str, int], Out]:
    """Decorate ``ChunkRunner.run_chunk``: bind job_id/chunk_no/worker, time the run, log its end.

    Logs ``job.chunk.completed`` (or ``job.chunk.<outcome>``; skipped runs at DEBUG) with the duration,
    and ``job.chunk.crashed`` with the traceback when the run raises.
    """

    @wraps(method)
    def run(self: R, job_id: str, chunk_no: int) -> Out:
        with bind(job_id=job_id, chunk_no=chunk_no, worker=self.worker_id):
            started = time.perf_counter()
            try:
                outcome = method(self, job_id, chunk_no)
            except Exception:
                CHUNK_SECONDS.labels("error").observe(time.perf_counter() - started)
                log.exception("job.chunk.crashed")
                raise
            seconds = time.perf_counter() - started
            value = str(getattr(outcome, "value", outcome))
            CHUNK_SECONDS.labels(value).observe(seconds)
            event = "job.chunk.completed" if value == "done" else f"job.chunk.{value}"
            level = logging.DEBUG if value == "skipped" else logging.INFO
            log.log(level, event, extra={"outcome": value, "duration_ms": round(seconds * 1000, 1)})
            return outcome

    return run


def process_metrics() -> Iterator[Metric]:
    """This process's series (or, in prometheus_client multiprocess mode, every process's of this host)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        yield from registry.collect()
        return
    yield from PROCESS_REGISTRY.collect()


class _ProcessCollector:
    def collect(self) -> Iterator[Metric]:
        return process_metrics()


def start_metrics_server(port: int, addr: str = "127.0.0.1") -> None:
    """Serve this process's series (all pool children's in multiprocess mode) on ``http://addr:port/``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ProcessCollector())
    start_http_server(port, addr=addr, registry=registry)
    log.info("metrics.server.started", extra={"port": port})


_CELERY_SETTINGS: list[Settings] = []
_CELERY_HOOKED: list[bool] = []


def instrument_celery(app: Any, settings: Settings) -> None:
    """Hook a Celery app: our logging in every worker, task context, per-worker metrics server.

    * ``setup_logging``: ``configure_logging(settings, level=<--loglevel>)`` replaces Celery's own setup.
    * ``task_prerun``/``task_postrun``: binds ``task_id`` and ``task`` for the task's log records.
    * ``worker_ready``: starts ``start_metrics_server`` when ``settings.worker.metrics_port`` is set.
    * ``worker_process_shutdown``: in multiprocess mode, drops the dead child's live samples.
    """
    from celery import signals

    del app  # the signals are process-wide; the app is taken for symmetry with ``register_tasks``
    _CELERY_SETTINGS[:] = [settings]  # the latest app's settings win; receivers are connected once
    if _CELERY_HOOKED:
        return
    _CELERY_HOOKED.append(True)
    tokens: dict[str, contextvars.Token[Mapping[str, Any]]] = {}

    def _setup_logging(loglevel: Any = None, **_: Any) -> None:
        configure_logging(_CELERY_SETTINGS[0], level=loglevel or None)

    def _prerun(task_id: str = "", task: Any = None, **_: Any) -> None:
        tokens[task_id] = _CONTEXT.set(
            {**_CONTEXT.get(), "task_id": task_id, "task": getattr(task, "name", "")}
        )

    def _postrun(task_id: str = "", **_: Any) -> None:
        token = tokens.pop(task_id, None)
        if token is not None:
            _CONTEXT.reset(token)

    def _ready(**_: Any) -> None:
        worker = getattr(_CELERY_SETTINGS[0], "worker", None)
        port = getattr(worker, "metrics_port", None)
        if port:
            start_metrics_server(int(port), str(getattr(worker, "metrics_addr", "127.0.0.1")))

    def _child_exit(pid: int | None = None, **_: Any) -> None:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(pid or os.getpid())  # type: ignore[no-untyped-call]

    signals.setup_logging.connect(_setup_logging, weak=False)
    signals.task_prerun.connect(_prerun, weak=False)
    signals.task_postrun.connect(_postrun, weak=False)
    signals.worker_ready.connect(_ready, weak=False)
    signals.worker_process_shutdown.connect(_child_exit, weak=False)
