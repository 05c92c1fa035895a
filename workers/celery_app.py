"""The Celery app, built from settings. Senders use only the task *name* defined here, so
anything that queues jobs never imports the pipeline (or the model)."""

from __future__ import annotations

from celery import Celery
from kombu.entity import Queue

from core.settings import Settings
from registry.models import PRIORITY_MAX

RUN_JOB = "autoglm.run_job"
# A queue of its own for priorities: RabbitMQ refuses to redeclare an existing queue with
# other arguments (PRECONDITION_FAILED), so the priority queue could not keep the old name
# ("autoglm.jobs", declared without x-max-priority). The sweeper resends what was queued there.
JOB_QUEUE = "autoglm.jobs.prioritised"


def make_celery(settings: Settings) -> Celery:
    """A Celery app on `settings.broker_url`; the database, not Celery, keeps job state."""
    if not settings.broker_url:
        raise ValueError("AUTOGLM_BROKER_URL is not set")
    app = Celery("autoglm", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_default_queue=JOB_QUEUE,
        # RabbitMQ orders waiting messages by priority only on a queue declared with it.
        task_queues=[
            Queue(JOB_QUEUE, queue_arguments={"x-max-priority": PRIORITY_MAX})  # type: ignore[no-untyped-call]
        ],
        task_acks_late=True,  # a task is acked only when it ends, so a lost worker loses no job
        task_reject_on_worker_lost=True,
        task_ignore_result=True,  # results are rows and artifacts, not Celery results
        task_serializer="json",
        accept_content=["json"],
        # A process takes only as many jobs as it has job threads; the rest stay queued for
        # other workers (and a late high-priority job overtakes them).
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": settings.broker_visibility_timeout,
            # Redis: one list per priority step (autoglm.jobs.prioritised, …:1 … …:9), read
            # lowest step first. Other transports ignore these.
            "queue_order_strategy": "priority",
            "priority_steps": list(range(PRIORITY_MAX + 1)),
            "sep": ":",
            # RabbitMQ: a send returns only once the broker has the message (publisher
            # confirms), so a job the API reports as queued is queued. Redis ignores it.
            "confirm_publish": True,
        },
        enable_utc=True,
    )
    return app


def broker_priority(app: Celery, priority: int) -> int:
    """The message priority for a job priority (0-9, higher first) on `app`'s broker: Redis
    (and Sentinel) read step 0 first, RabbitMQ delivers the highest first."""
    with app.connection_for_write() as connection:  # builds the transport; connects lazily
        redis = connection.transport.driver_type == "redis"
    return PRIORITY_MAX - priority if redis else priority
