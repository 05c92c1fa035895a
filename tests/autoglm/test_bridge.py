"""`autoglm bridge` end to end: tansu, PostgreSQL, Redis, a Celery worker and the real model."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx
import pytest

from core.db import make_engine, session_factory
from tests import factories
from tests.autoglm.run import autoglm
from tests.jobs_support import REPORT
from tests.kafka import Broker
from tests.readers import markdown_headings
from tests.stack import Stack, distributed_stack, wait_for

pytestmark = pytest.mark.model


def kafka_env(kafka: Broker, topics: dict[str, str]) -> dict[str, str]:
    return {
        "AUTOGLM_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "AUTOGLM_KAFKA_REQUESTS_TOPIC": topics["requests"],
        "AUTOGLM_KAFKA_COMPLETED_TOPIC": topics["completed"],
        "AUTOGLM_KAFKA_DEAD_LETTER_TOPIC": topics["dead_letter"],
        "AUTOGLM_KAFKA_GROUP_ID": f"bridge-{uuid.uuid4().hex}",
        "AUTOGLM_KAFKA_SESSION_TIMEOUT_MS": "6000",
        "AUTOGLM_KAFKA_HEARTBEAT_INTERVAL_MS": "1500",
    }


def weekly_jobs(stack: Stack) -> list[dict[str, object]]:
    response = httpx.get(f"{stack.url}/jobs", params={"template": "weekly"}, headers=stack.headers)
    return list(response.json())


def test_events_become_documents_bad_ones_dead_letters_and_redeliveries_nothing(
    tmp_path: Path, kafka: Broker
) -> None:
    topics = kafka.topics()
    heartbeat = tmp_path / "heartbeat"
    env = kafka_env(kafka, topics) | {"AUTOGLM_HEARTBEAT_FILE": str(heartbeat)}
    with distributed_stack(tmp_path, REPORT, **env) as stack:
        with session_factory(make_engine(stack.database_url))() as session:
            factories.user(session, "kafka-bridge", teams=["a"], roles=["runner"])
            session.commit()
        stack.start("worker")
        stack.start("bridge")
        event = {"template": "weekly", "inputs": {"team": "Kafka"}, "idempotency_key": "evt-1"}
        kafka.produce(topics["requests"], b'{"template": "weekly", broken')
        kafka.produce(topics["requests"], event, traceparent=f"00-{'ab' * 16}-{'cd' * 8}-01")

        [completion] = kafka.consume(topics["completed"], 1, timeout=180)
        done = json.loads(completion.value)
        assert done["status"] == "succeeded", done["error"]
        assert done["idempotency_key"] == "evt-1" and done["trace_id"] == "ab" * 16
        assert {a["format"] for a in done["artifacts"]} == {"pdf", "docx", "md"}
        markdown = stack.download(done["job_id"], "md").content.decode("utf-8")
        assert (1, "Weekly report: Kafka") in markdown_headings(markdown)

        [dead] = kafka.consume(topics["dead_letter"], 1)
        assert dead.value == b'{"template": "weekly", broken'
        headers = dict(dead.headers)
        assert headers["autoglm.error.code"] == b"invalid_event"
        assert headers["autoglm.error.offset"] == b"0"

        kafka.produce(topics["requests"], event)  # delivered again
        bridge_log = stack.logs[2]
        wait_for(
            lambda: "event already submitted" in bridge_log.read_text(encoding="utf-8"),
            60,
            "the bridge to see the redelivery",
        )
        assert [job["id"] for job in weekly_jobs(stack)] == [done["job_id"]]
        assert time.time() - heartbeat.stat().st_mtime < 5  # what the compose health check reads


def test_the_bridge_explains_missing_kafka_settings_and_principal(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'a.db'}"
    base = {"AUTOGLM_BROKER_URL": "redis://127.0.0.1:6379/9", "AUTOGLM_DATABASE_URL": database}
    result = autoglm("bridge", env=base | {"AUTOGLM_KAFKA_BOOTSTRAP_SERVERS": ""})
    assert result.returncode == 2
    assert "AUTOGLM_KAFKA_BOOTSTRAP_SERVERS is not set" in result.stderr
    result = autoglm("bridge", env=base | {"AUTOGLM_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"})
    assert result.returncode == 2
    assert "bridge principal 'kafka-bridge' does not exist" in result.stderr
    assert "--service" in result.stderr
