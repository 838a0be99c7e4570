"""The Celery application of distributed mode: ``create_celery(settings)`` (a factory; nothing connects here).

Design (issue 4, design sections 4, 7 and 9):

* The broker (Redis, ``CODE2ASIN_BROKER_URL``) only carries "run chunk N of job J": PostgreSQL is the
  source of truth. JSON is the only serializer accepted, messages hold ids only, and there is no result
  backend (``task_ignore_result``): progress and outcomes are read from the database.
* ``acks_late`` + ``worker_prefetch_multiplier=1``: a worker takes one message per free pool process,
  so it does not hoard messages that other workers could run.
* Time limits: a chunk task gets ``soft_time_limit`` (540 s by default), then is killed at
  ``time_limit`` (600 s).
* Redis' ack emulation is off (``ack_emulation: False``): a message leaves Redis when a worker takes
  it, and nothing is redelivered by the broker. With it on, a Redis restart while tasks ran crashed
  every busy worker (kombu restores the unacknowledged messages through a channel whose connection is
  already gone: "'NoneType' object has no attribute 'hostname'", an unrecoverable error), and its
  redelivery after the visibility timeout (an hour) was never what recovered work anyway.
* Recovery comes from the database instead. Each chunk holds a *lease* in the database
  (``CODE2ASIN_WORKER_LEASE_SECONDS``); beat's process sweeps every ``sweep_seconds`` on a thread of its
  own (``tasks.start_sweeper``: no pool process needed, so busy workers cannot delay it), and the sweep
  re-sends every chunk whose lease expired (a crashed worker's chunk) or whose retry is due, and whatever
  Redis lost (dispatch marks vanish with the messages when Redis restarts empty). An expired chunk is
  sent with priority 1 (queued chunks use 5), so it runs on the next pool process that frees up rather
  than behind the queue. The sweeper also wakes just after the first running lease runs out
  (``dispatch.seconds_to_next_sweep``), and beat's own takeover threads (``tasks.TakeoverPool``,
  ``CODE2ASIN_WORKER_TAKEOVER_THREADS``) run such a chunk at once, so a crashed chunk is picked up about
  0.05 s after its lease ends, whether or not a worker process is free; only a chunk they have no room
  for waits in the queue for a pool process. A message a worker took with it when
  it died is sent again when its dispatch mark expires (``dispatch.DispatchMarks``).
* Task events are on (``worker_send_task_events``, ``task_send_sent_event``) so Flower shows the tasks.

Queues: ``code2asin`` (chunks) and ``code2asin-images`` (declared for the image copier).
Run a worker with ``python -m code2asin.jobs.celery_app worker`` (settings from the environment) or
``code2asin worker``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from code2asin.config import Settings, SettingsError, load_settings
from code2asin.jobs.queues import (
    CHUNK_PRIORITY,
    CHUNK_QUEUE,
    IMAGES_QUEUE,
    RUN_CHUNK_TASK,
)

if TYPE_CHECKING:
    from celery import Celery

    from code2asin.db import Database
    from code2asin.jobs.dispatch import Dispatcher

def create_celery(settings: Settings) -> Celery:
    """A configured Celery app with the ``code2asin.*`` tasks bound to ``settings`` (nothing connects yet).

    Raises ``ValueError`` when ``settings.broker_url`` is empty (distributed mode needs Redis).
    """
    from celery import Celery
    from kombu.entity import Queue

    from code2asin.jobs.tasks import register_tasks

    if not settings.broker_url:
        raise ValueError("Celery workers need CODE2ASIN_BROKER_URL (a redis:// URL).")
    worker = settings.worker
    app = Celery("code2asin", set_as_current=False)
    app.conf.update(
        broker_url=settings.broker_url,
        broker_connection_retry_on_startup=True,
        broker_connection_retry=True,
        broker_connection_max_retries=None,  # keep trying while Redis restarts
        broker_transport_options={
            "ack_emulation": False,  # see the module docstring
            "queue_order_strategy": "priority",
            "priority_steps": list(range(10)),
            "socket_timeout": 30,
            "socket_connect_timeout": 10,
        },
        result_backend=None,
        task_ignore_result=True,
        task_store_errors_even_if_ignored=False,
        task_serializer="json",
        accept_content=["json"],
        event_serializer="json",
        result_accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=worker.soft_time_limit,
        task_time_limit=worker.time_limit,
        task_default_queue=CHUNK_QUEUE,
        task_default_priority=CHUNK_PRIORITY,
        task_queues=[
            Queue(CHUNK_QUEUE, routing_key=CHUNK_QUEUE),  # type: ignore[no-untyped-call]
            Queue(IMAGES_QUEUE, routing_key=IMAGES_QUEUE),  # type: ignore[no-untyped-call]
        ],
        task_routes={
            RUN_CHUNK_TASK: {"queue": CHUNK_QUEUE},
        },
        worker_send_task_events=True,
        task_send_sent_event=True,
        worker_hijack_root_logger=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        beat_schedule_filename=str(settings.data_dir / "celerybeat-schedule"),
        timezone="UTC",
        enable_utc=True,
    )
    register_tasks(app, settings)
    return app


def create_dispatcher(settings: Settings, db: Database) -> Dispatcher:
    """The Celery dispatcher when ``settings.broker_url`` is set, else the in-process pool."""
    from code2asin.jobs.dispatch import CeleryDispatcher, EmbeddedDispatcher

    if settings.broker_url:
        return CeleryDispatcher(settings, db, create_celery(settings))
    return EmbeddedDispatcher(settings, db)


def app_from_env() -> Celery:
    """The app built from ``CODE2ASIN_*`` environment variables (for ``celery -A`` and ``python -m``)."""
    return create_celery(load_settings())


def main(argv: list[str] | None = None) -> int:
    """``python -m code2asin.jobs.celery_app worker|beat|inspect ...``: the Celery command line.

    Returns Celery's exit code.
    """
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    code = create_celery(settings).start(argv=list(sys.argv[1:] if argv is None else argv))
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
