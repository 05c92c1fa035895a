"""Benchmark: how many Kafka request events per second one bridge turns into jobs.

Run from the repository root (PostgreSQL up, as `scripts/services` leaves it)::

    .venv/bin/python bench/bridge.py            # 3 runs of 1000 events, about a minute
    .venv/bin/python bench/bridge.py --events 200 --runs 1

Each run: a fresh database, a tansu broker, N events produced to a 2-partition requests topic
*before* the bridge starts, then one in-process `KafkaBridge` until every offset is committed.
Submission is the real one (permission, validation, job row, commit) with a dispatcher that
only counts, so the figure is the bridge and the database, not a broker or a worker. A second
pass delivers the same events again (idempotency keys given), measuring replays.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from kafka.structs import TopicPartition  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

import migrations  # noqa: E402
from core.db import make_engine, session_factory  # noqa: E402
from core.logging import configure_logging  # noqa: E402
from core.settings import Settings  # noqa: E402
from registry.models import Job  # noqa: E402
from tests import factories  # noqa: E402
from tests.database import fresh_database  # noqa: E402
from tests.jobs_support import STATIC, RecordingQueue, publish  # noqa: E402
from tests.kafka import Broker, tansu  # noqa: E402
from triggers.bridge import KafkaBridge  # noqa: E402


def drain(broker: Broker, url: str, topic: str, group: str, total: int) -> float:
    """Seconds one bridge takes to handle and commit `total` events of `topic` (after it joined
    the group: the clock starts at its first records)."""
    settings = Settings(
        kafka_bootstrap_servers=broker.bootstrap,
        kafka_requests_topic=topic,
        kafka_completed_topic=f"{topic}.completed",
        kafka_dead_letter_topic=f"{topic}.dlq",
        kafka_group_id=group,
        kafka_session_timeout_ms=6000,
        kafka_heartbeat_interval_ms=1500,
    )
    engine = make_engine(url)
    bridge = KafkaBridge(settings, session_factory(engine), RecordingQueue())
    partitions = [TopicPartition(topic, p) for p in (0, 1)]
    started = None
    try:
        while True:
            bridge.step(timeout_ms=100)
            if started is None and bridge.consumer.assignment():
                started = time.perf_counter()
            done = sum(bridge.committed.get(tp, 0) for tp in partitions)
            if done >= total:
                assert started is not None
                return time.perf_counter() - started
    finally:
        bridge.close()
        engine.dispose()


def run(events: int) -> tuple[float, float]:
    with tansu() as broker, fresh_database("autoglm_bench") as url:
        migrations.upgrade(url)
        engine = make_engine(url)
        with session_factory(engine)() as session:
            factories.user(session, "kafka-bridge", teams=["a"], roles=["runner"])
            publish(session, STATIC)
        topic = f"bench{uuid.uuid4().hex[:6]}.requests"
        broker.create_topics(topic)
        producer = broker.producer()
        for n in range(events):
            body = {"template": "static", "inputs": {"team": f"t{n}"}, "idempotency_key": f"e{n}"}
            producer.send(topic, Broker.encode(body), partition=n % 2)
        producer.flush()
        fresh = drain(broker, url, topic, f"g{uuid.uuid4().hex}", events)
        with session_factory(engine)() as session:
            assert session.scalar(select(func.count()).select_from(Job)) == events
        replay = drain(broker, url, topic, f"g{uuid.uuid4().hex}", events)  # all seen before
        with session_factory(engine)() as session:
            assert session.scalar(select(func.count()).select_from(Job)) == events
        engine.dispose()
        producer.close()
    return events / fresh, events / replay


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    configure_logging("WARNING")
    results = [run(args.events) for _ in range(args.runs)]
    fresh = [r[0] for r in results]
    replay = [r[1] for r in results]
    print(f"events per run: {args.events}, runs: {args.runs}")
    print(
        f"new jobs:  median {statistics.median(fresh):.0f} events/s  (runs: "
        + ", ".join(f"{x:.0f}" for x in fresh)
        + ")"
    )
    print(
        f"replays:   median {statistics.median(replay):.0f} events/s  (runs: "
        + ", ".join(f"{x:.0f}" for x in replay)
        + ")"
    )


if __name__ == "__main__":
    main()
