"""The Celery application: one task, ``cc-harness.run``, routed by queue per capability set.

With a broker URL (``redis://host:6379/0``) the app sends requests to Redis and workers on the
bench machines take them; the result backend is the same Redis. Without one it is the
embedded default: Celery's eager mode runs the request in this process, no broker needed.

Delivery is at least once, never lost: the task acknowledges its message only when it has
finished (``acks_late``), and a worker process that dies mid-run (SIGKILL, out of memory, a
crash) has its message rejected back onto its queue (``reject_on_worker_lost``) for the next
matching bench. A bench machine that dies whole leaves the message unacknowledged in Redis,
which hands it out again after the visibility timeout: set it above the longest run.

A queued message is a job of some kind (its ``kind`` key; ``certify`` when absent): a
certification run (:func:`harness.queue.execute.execute`) or a run another command spreads
over the same workers, such as ``harness qualify --queue`` (kind ``qualify``). The kinds are
the registry :data:`JOBS`, filled here and from the entry point group
``cc_harness.queue_jobs``: the queue knows how to carry a job to a bench, not what the job is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from harness.errors import HarnessError, InterfaceError
from harness.queue.model import RunRequest
from harness.registry import Registry

if TYPE_CHECKING:
    from celery import Celery

    from harness.queue.execute import Station

__all__ = [
    "CERTIFY",
    "DEFAULT_VISIBILITY",
    "JOBS",
    "TASK_NAME",
    "JobHandler",
    "check_broker",
    "make_app",
    "serve_station",
    "where",
]

TASK_NAME = "cc-harness.run"
DEFAULT_VISIBILITY = 48 * 3600.0  # seconds: above a 24-hour endurance run

CERTIFY = "certify"  # the job kind of 'harness queue submit' (and of a message without one)

_STATION: Station | None = None  # the bench this worker process serves (set before forking)

# A job kind's handler: the message's JSON and this bench; the outcome as JSON (its "status"
# REFUSED when the bench cannot or may not carry it out).
JobHandler = Callable[[dict[str, Any], "Station"], dict[str, Any]]


def _callable(name: str, item: object) -> None:
    if not callable(item):
        raise TypeError(f"queued job kind {name!r} must be callable (request, station)")


JOBS: Registry[JobHandler] = Registry("queued job kind", "cc_harness.queue_jobs", _callable)


@JOBS.register(CERTIFY)
def _certify(request: dict[str, Any], station: Station) -> dict[str, Any]:
    from harness.queue.execute import execute

    return execute(RunRequest.from_json(request), station)


def _run(request: dict[str, Any]) -> dict[str, Any]:
    if _STATION is None:  # pragma: no cover - a worker always has its station
        raise RuntimeError("no bench: start workers with 'harness queue worker'")
    kind = str(request.get("kind", CERTIFY))
    try:
        handler = JOBS.get(kind)
    except HarnessError as exc:  # a job of a kind this bench's harness does not know
        return {
            "request_id": request.get("request_id"),
            "kind": kind,
            "bench": _STATION.describe(),
            "status": "REFUSED",
            "passed": False,
            "error": str(exc),
        }
    return handler(request, _STATION)


def serve_station(station: Station) -> None:
    """Make ``station`` the bench that runs this process's tasks."""
    global _STATION
    _STATION = station


def where(broker: str) -> str:
    """The broker URL without its credentials, for messages and reports."""
    parts = urlsplit(broker)
    return f"{parts.scheme}://{parts.hostname or ''}{':' + str(parts.port) if parts.port else ''}"


def check_broker(app: Celery, broker: str) -> None:
    """Connect once; an unreachable broker is an InterfaceError naming it without secrets."""
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=2, interval_start=0.2, interval_step=0.5)
    except Exception as exc:
        raise InterfaceError(f"cannot reach the queue broker {where(broker)}: {exc}") from None


def make_app(broker: str | None, *, visibility_timeout: float = DEFAULT_VISIBILITY) -> Celery:
    """The app for ``broker`` (``redis://...``), or the embedded in-process one for None."""
    from celery import Celery

    app = Celery("cc-harness", set_as_current=False)
    if broker is None:
        app.conf.update(
            broker_url="memory://",
            result_backend="cache+memory://",
            task_always_eager=True,
            task_store_eager_result=False,
        )
    else:
        app.conf.update(broker_url=broker, result_backend=broker)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_track_started=True,  # STARTED names the worker process (pid, hostname)
        worker_prefetch_multiplier=1,  # a bench takes one run at a time, no hoarding
        broker_transport_options={"visibility_timeout": visibility_timeout},
        result_expires=7 * 24 * 3600,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        task_default_queue="cc-harness.any.classic.1bus",
    )
    app.task(name=TASK_NAME, acks_late=True, reject_on_worker_lost=True)(_run)
    return app
