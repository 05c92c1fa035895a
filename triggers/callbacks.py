"""Completion callbacks: a finished job's completion event, signed, POSTed to its
`callback_url`, at least once.

Signed as Standard Webhooks (https://www.standardwebhooks.com) so receivers can check it with
any of that spec's libraries: `webhook-id` (`job_<id>`, the same on every retry),
`webhook-timestamp` (the attempt's Unix time) and `webhook-signature` (`v1,` + base64 of
HMAC-SHA256 over `{id}.{timestamp}.{body}`, keyed by the decoded `whsec_` secret). A 2xx answer
delivers; anything else is retried with exponential backoff and full jitter until
`callback_give_up_seconds` after the job finished; an address that may not be reached
(`triggers.outbound`) is refused at once and for good.
"""

from __future__ import annotations

import json
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib.metadata import PackageNotFoundError, version

import structlog
from sqlalchemy.orm import Session, sessionmaker

from core.errors import ConfigError
from core.settings import Settings
from registry import callbacks
from registry.callbacks import Attempt
from registry.models import utcnow
from triggers.callback_signing import Signer
from triggers.events import completion_event
from triggers.loops import Every
from triggers.metrics import CALLBACK_ATTEMPTS, CALLBACK_SECONDS
from triggers.outbound import Answer, OutboundClient, Refused, Unreachable, allowed_networks

log = structlog.get_logger(__name__)

BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 600.0
BATCH = 8  # callbacks claimed, and sent side by side, per pass
CLAIM_SLACK_SECONDS = 60.0  # beyond the request timeout: resolution, recording
_random = secrets.SystemRandom()


def _user_agent() -> str:
    try:
        return f"autoglm-callbacks/{version('open-autoglm')}"
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "autoglm-callbacks/0"


USER_AGENT = _user_agent()


def retry_delay(attempt: int) -> float:
    """Seconds before the next try after failed attempt number `attempt` (1, 2, ...):
    exponential backoff with full jitter, so many failing receivers do not retry in step."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** min(attempt - 1, 30))
    return _random.uniform(0, ceiling)


def retry_at(finished_at: datetime, attempt: int, give_up_seconds: float) -> datetime | None:
    """When to try again after a failed attempt, or None once the give-up time has passed
    (the last try goes at that time)."""
    now = utcnow()
    deadline = finished_at + timedelta(seconds=give_up_seconds)
    if now >= deadline:
        return None
    return min(now + timedelta(seconds=retry_delay(attempt)), deadline)


@dataclass(frozen=True)
class Outgoing:
    """One claimed callback, taken out of the session so it can be sent from any thread."""

    job_id: str
    url: str
    body: bytes
    finished_at: datetime
    attempt: int  # the number this attempt will have


class CallbackSender:
    """Claims due callbacks, sends them, records what happened."""

    def __init__(self, settings: Settings, client: OutboundClient | None = None) -> None:
        if not settings.callback_secret:
            raise ConfigError("AUTOGLM_CALLBACK_SECRET is not set: callbacks cannot be signed")
        self.signer = Signer(settings.callback_secret)
        self.settings = settings
        self.client = client or OutboundClient(
            allowed_networks(settings.callback_allow_networks),
            settings.callback_timeout_seconds,
            user_agent=USER_AGENT,
        )
        self.lease_seconds = settings.callback_timeout_seconds + CLAIM_SLACK_SECONDS

    def deliver_due(self, session: Session) -> int:
        """One pass: claim, commit, send side by side, record each; returns how many went."""
        claimed = [
            Outgoing(
                job_id=job.id,
                url=job.callback_url or "",
                body=json.dumps(completion_event(job), separators=(",", ":")).encode("utf-8"),
                finished_at=job.finished_at or job.created_at,
                attempt=len(job.callbacks) + 1,
            )
            for job in callbacks.claim_due(session, self.lease_seconds, BATCH)
        ]
        session.commit()
        if not claimed:
            return 0
        with ThreadPoolExecutor(max_workers=len(claimed), thread_name_prefix="callback") as pool:
            results = list(pool.map(self.attempt, claimed))
        for outgoing, result in zip(claimed, results, strict=True):
            callbacks.record(session, outgoing.job_id, result)
            session.commit()
            log.info(
                "callback " + result.outcome,
                job_id=outgoing.job_id,
                url=outgoing.url,
                status_code=result.status_code,
                error=result.error,
                next_at=result.retry_at.isoformat() if result.retry_at else None,
            )
        return len(claimed)

    def attempt(self, outgoing: Outgoing) -> Attempt:
        """Send one callback; never raises (every ending is an attempt to record)."""
        headers = {
            "Content-Type": "application/json",
            **self.signer.headers(f"job_{outgoing.job_id}", int(time.time()), outgoing.body),
        }
        started = time.monotonic()
        status_code, outcome = None, "failed"
        try:
            answer = self.client.post(outgoing.url, outgoing.body, headers)
            status_code = answer.status_code
            outcome, error = ("delivered", None) if 200 <= status_code < 300 else _failure(answer)
        except Refused as exc:
            outcome, error = "refused", str(exc)
        except Unreachable as exc:
            error = str(exc)
        except Exception as exc:  # a bug must not leave the claim to loop forever unrecorded
            log.exception("callback attempt broke", job_id=outgoing.job_id)
            error = f"{type(exc).__name__}: {exc}"
        seconds = time.monotonic() - started
        CALLBACK_ATTEMPTS.labels(outcome=outcome).inc()
        CALLBACK_SECONDS.observe(seconds)
        later = (
            retry_at(outgoing.finished_at, outgoing.attempt, self.settings.callback_give_up_seconds)
            if outcome == "failed"
            else None
        )
        return Attempt(outgoing.url, outcome, seconds, status_code, error, retry_at=later)


def _failure(answer: Answer) -> tuple[str, str]:
    if 300 <= answer.status_code < 400:
        where = answer.location or "nowhere (no Location)"
        return "failed", f"HTTP {answer.status_code}: redirect to {where} not followed"
    text = " ".join(answer.snippet.split())
    return "failed", f"HTTP {answer.status_code}" + (f": {text}" if text else "")


def callback_loops(sessions: sessionmaker[Session], settings: Settings) -> list[Every]:
    """The sender as a background loop, or none while no secret is set (no job can ask for a
    callback then; ones left pending go out once it is set again)."""
    if not settings.callback_secret:
        return []
    sender = CallbackSender(settings)
    return [Every("callbacks", settings.callback_poll_seconds, sessions, sender.deliver_due)]
