"""`autoglm bridge`: Kafka request events in, jobs out; completion events back to Kafka.

Run as many as the requests topic has partitions: they share the consumer group.
"""

from __future__ import annotations

import structlog

from autoglm.exits import exits_cleanly
from autoglm.runtime import ensure_migrated, require_broker, stop_on_signals
from core.db import make_engine, session_factory
from core.logging import configure_logging
from core.settings import get_settings
from triggers.bridge import KafkaBridge, bridge_actor, kafka_options
from triggers.dispatch import dispatcher_for

log = structlog.get_logger(__name__)


@exits_cleanly
def bridge() -> None:
    """Consume AUTOGLM_KAFKA_REQUESTS_TOPIC as the bridge principal and submit each event."""
    settings = get_settings()
    configure_logging(settings.log_level)
    require_broker(settings, "jobs of Kafka events")
    kafka_options(settings)  # fail before connecting anywhere when Kafka is not configured
    ensure_migrated(settings)
    sessions = session_factory(make_engine(settings.database_url))
    with sessions() as session:  # a missing principal is an error now, not on every event
        bridge_actor(session, settings.bridge_principal)
    stop = stop_on_signals()
    kafka_bridge = KafkaBridge(settings, sessions, dispatcher_for(settings))
    log.info(
        "bridge running",
        topic=settings.kafka_requests_topic,
        group=settings.kafka_group_id,
        principal=settings.bridge_principal,
    )
    kafka_bridge.run(stop)
