"""The exact-result cache: shared by workers through the database, bounded, optional per field."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings
from documents.loader import LoadedTemplate
from generation.cache import MemoryResultCache, request_key
from generation.llama import LlamaEngine
from generation.protocol import GenerationRequest, GenerationResult, ProgressCallback
from registry.accounts import authenticate
from registry.models import CachedGeneration, Job, utcnow
from tests import factories
from tests.fakes import EchoGenerator
from tests.jobs_support import RecordingQueue, publish, runner
from tests.workers.test_execution import reload
from triggers.submit import JobRequest, submit
from workers.pipeline import fill_template
from workers.result_cache import SqlResultCache

CACHED = """\
name: cached
version: "1"
variables: [team]
generate:
  intro: {prompt: "Introduce {{ team }}.", max_tokens: 12}
  fresh: {prompt: "Say hello to {{ team }}.", max_tokens: 12, cache: false}
body: "# {{ team }}\\n\\n{{ generated.intro }} / {{ generated.fresh }}"
"""


class Counting:
    """Wraps a generator and counts the fields it was really asked to write."""

    def __init__(self, inner: EchoGenerator | LlamaEngine) -> None:
        self.inner, self.asked = inner, []  # type: ignore[var-annotated]

    @property
    def model_name(self) -> str:
        return self.inner.model_name

    def generate(
        self, request: GenerationRequest, on_progress: ProgressCallback | None = None
    ) -> GenerationResult:
        self.asked.append(request.name)
        return self.inner.generate(request, on_progress)


def test_an_identical_request_is_answered_from_the_cache_by_another_worker(
    db: sessionmaker[Session], session: Session, tmp_path: Path
) -> None:
    publish(session, CACHED)
    actor = authenticate(
        session, factories.user(session, "ci", teams=["a"], roles=["runner"]).token
    )
    request = JobRequest("cached", {"team": "core"})
    first, second = (
        submit(session, actor, request, RecordingQueue(), Settings()).job for _ in "ab"
    )
    session.execute(update(Job).where(Job.id == second.id).values(seed=first.seed))
    session.commit()
    workers = []
    for name in ("worker-a", "worker-b"):  # two workers, one database
        generator = Counting(EchoGenerator())
        worker = runner(db, generator, tmp_path / name)  # type: ignore[arg-type]
        worker.cache = SqlResultCache(db, max_entries=100, ttl_seconds=60)
        workers.append((worker, generator))
    workers[0][0].run(first.id)
    workers[1][0].run(second.id)
    assert workers[0][1].asked == ["intro", "fresh"]
    assert workers[1][1].asked == ["fresh"]  # `cache: false` is always written anew
    done = reload(session, second.id)
    assert {r["name"]: r["cached"] for r in done.generation} == {"intro": True, "fresh": False}
    row = session.get(CachedGeneration, next(iter(session.query(CachedGeneration.key)))[0])
    assert row is not None and row.hits == 1


def test_entries_expire_and_the_oldest_are_trimmed(db: sessionmaker[Session]) -> None:
    cache = SqlResultCache(db, max_entries=2, ttl_seconds=60)
    result = GenerationResult("f", "text", "text", "m", 1, 3, 1, 0.1, "stop")
    for key in ("a", "b", "c"):
        cache.put(key, result)
    with db() as session:
        session.execute(
            update(CachedGeneration)
            .where(CachedGeneration.key == "a")
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        session.commit()
        assert cache.get("a") is None  # expired
        assert cache.get("b") == result
        assert cache.trim(session) == 1  # "a" expired; two left, within the cap
        cache.put("d", result)
        assert cache.trim(session) == 1  # the oldest of three goes
        assert {k for (k,) in session.query(CachedGeneration.key)} == {"c", "d"}


def test_the_real_model_is_not_asked_again_for_an_identical_field(
    engine: LlamaEngine, template: Callable[[str], LoadedTemplate]
) -> None:
    loaded, counting = template(CACHED), Counting(engine)
    cache = MemoryResultCache(max_entries=10, ttl_seconds=60)
    one = fill_template(loaded, {"team": "Core"}, lambda: counting, Settings(), seed=4, cache=cache)
    two = fill_template(loaded, {"team": "Core"}, lambda: counting, Settings(), seed=4, cache=cache)
    assert counting.asked == ["intro", "fresh", "fresh"]
    assert [r.cached for r in two.provenance] == [True, False]
    assert two.provenance[0].text == one.provenance[0].text and one.provenance[0].text
    other_seed = GenerationRequest("intro", "Introduce Core.", 12, 0.7, 5)
    assert request_key(engine.model_name, other_seed) != request_key(
        engine.model_name, GenerationRequest("intro", "Introduce Core.", 12, 0.7, 4)
    )
