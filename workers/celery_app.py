"""The Celery app, built from settings. Senders use only the task *name* defined here, so
anything that queues jobs never imports the pipeline (or the model)."""

from __future__ import annotations

from celery import Celery

from core.settings import Settings

RUN_JOB = "autoglm.run_job"
JOB_QUEUE = "autoglm.jobs"


def make_celery(settings: Settings) -> Celery:
    """A Celery app on `settings.broker_url`; the database, not Celery, keeps job state."""
    if not settings.broker_url:
        raise ValueError("AUTOGLM_BROKER_URL is not set")
    app = Celery("autoglm", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_default_queue=JOB_QUEUE,
        task_acks_late=True,  # a task is acked only when it ends, so a lost worker loses no job
        task_reject_on_worker_lost=True,
        task_ignore_result=True,  # results are rows and artifacts, not Celery results
        task_serializer="json",
        accept_content=["json"],
        # A process takes only as many jobs as it has job threads; the rest stay queued for
        # other workers.
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": settings.broker_visibility_timeout},
        enable_utc=True,
    )
    return app
