"""Execution: the document pipeline now; the Celery app and tasks build on it."""
