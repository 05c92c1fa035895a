"""The HTTP API (FastAPI): the template registry now; jobs, schedules and webhooks later."""
