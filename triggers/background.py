"""The loops that only enqueue or tidy up, started together by `autoglm scheduler` (and by
`autoglm serve` on embedded defaults): cron fires, the sweeper, completion callbacks and
retention. Each is safe to run on several hosts at once (every row it acts on is claimed in
the database)."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings
from registry.storage import store_for
from triggers.callbacks import callback_loops
from triggers.cron import cron_loop
from triggers.dispatch import Dispatcher
from triggers.loops import Every
from triggers.retention import retention_loop
from triggers.sweeper import sweeper_loop


def background_loops(
    sessions: sessionmaker[Session], dispatcher: Dispatcher, settings: Settings
) -> list[Every]:
    """Every background loop, started; stop each at shutdown."""
    loops = [
        cron_loop(sessions, dispatcher, settings),
        sweeper_loop(
            sessions,
            dispatcher,
            interval=settings.sweep_interval_seconds,
            resend_after=settings.resend_after_seconds,
            store=store_for(settings),
        ),
        *callback_loops(sessions, settings),  # completion callbacks (an outbox)
        retention_loop(sessions, settings),  # expired jobs, files and cached generations
    ]
    return [loop.start() for loop in loops]
