"""Helpers for job tests: publish a template, a recording queue, a runner on a fake generator."""

from __future__ import annotations

import textwrap
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings
from generation.protocol import Generator
from registry import publishing, templates
from registry.storage import LocalArtifactStore
from tests import factories
from tests.factories import OPERATOR
from workers.execution import JobRunner

REPORT = """\
name: weekly
version: "1"
category: reports
variables:
  - name: team
    type: string
    required: true
  - name: count
    type: integer
    default: 1
generate:
  summary:
    prompt: "Summarise the week of {{ team }} in one sentence."
    max_tokens: 24
    temperature: 0
body: |
  # Weekly report: {{ team }}

  {{ generated.summary }}

  Count: {{ count }}
"""

STATIC = """\
name: static
version: "1"
variables: [team]
body: |
  # Static report for {{ team }}

  Nothing here is generated.
export:
  formats: [md]
"""


def publish(session: Session, text: str = REPORT, *, team: str = "a") -> str:
    """Upload and activate `text` as `team`'s template; return its name."""
    raw = textwrap.dedent(text).encode("utf-8")
    factories.team(session, team)
    version = templates.upload(session, OPERATOR, raw, owner_team=team, max_bytes=64 * 1024)
    name = version.template.name
    session.commit()
    publishing.activate(session, OPERATOR, name, version.version)
    session.commit()
    return name


class RecordingQueue:
    """A dispatcher that remembers what was sent (and can be told to fail)."""

    def __init__(self, *, broken: bool = False) -> None:
        self.sent: list[tuple[str, float]] = []
        self.priorities: dict[str, int] = {}  # job id -> the priority it was last sent with
        self.broken = broken

    def send(self, job_id: str, *, delay: float = 0.0, priority: int = 5) -> None:
        if self.broken:
            raise ConnectionError("broker down")
        self.sent.append((job_id, delay))
        self.priorities[job_id] = priority

    def ping(self) -> None:
        if self.broken:
            raise ConnectionError("broker down")

    def depth(self) -> int | None:
        return len(self.sent)


def runner(
    sessions: sessionmaker[Session],
    generator: Generator,
    artifacts: Path,
    queue: RecordingQueue | None = None,
    **settings: object,
) -> JobRunner:
    resend = queue or RecordingQueue()
    return JobRunner(
        sessions=sessions,
        settings=Settings(artifact_dir=artifacts, **settings),  # type: ignore[arg-type]
        make_generator=lambda: generator,
        store=LocalArtifactStore(artifacts),
        resend=lambda job_id, delay: resend.send(job_id, delay=delay),
        worker_name="test-worker",
    )
