"""The Celery application: one task, ``cc-harness.run``, routed by queue per capability set.

With a broker URL (``redis://host:6379/0``) the app sends requests to Redis and workers on the
bench machines take them; the result backend is the same Redis. Without one it is the
embedded default: Celery's eager mode runs the request in this process, no broker needed.

Delivery is at least once, never lost: the task acknowledges its message only when it has
finished (``acks_late``), and a worker process that dies mid-run (SIGKILL, out of memory, a
crash) has its message rejected back onto its queue (``reject_on_worker_lost``) for the next
matching bench. A bench machine that dies whole leaves the message unacknowledged in Redis,
which hands it out again after the visibility timeout: set it above the longest run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.queue.model import RunRequest

if TYPE_CHECKING:
    from celery import Celery

    from harness.queue.execute import Station

__all__ = ["DEFAULT_VISIBILITY", "TASK_NAME", "make_app", "serve_station"]

TASK_NAME = "cc-harness.run"
DEFAULT_VISIBILITY = 48 * 3600.0  # seconds: above a 24-hour endurance run

_STATION: Station | None = None  # the bench this worker process serves (set before forking)


def _run(request: dict[str, Any]) -> dict[str, Any]:
    from harness.queue.execute import execute

    if _STATION is None:  # pragma: no cover - a worker always has its station
        raise RuntimeError("no bench: start workers with 'harness queue worker'")
    return execute(RunRequest.from_json(request), _STATION)


def serve_station(station: Station) -> None:
    """Make ``station`` the bench that runs this process's tasks."""
    global _STATION
    _STATION = station


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
