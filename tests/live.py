"""A real registry server (uvicorn, in a thread) on its own committed PostgreSQL database."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

import migrations
from api.app import create_app
from core.db import make_engine, session_factory
from core.settings import Settings
from tests.database import fresh_database


@dataclass
class LiveRegistry:
    url: str
    database_url: str
    engine: Engine

    @property
    def sessions(self) -> sessionmaker[Session]:
        return session_factory(self.engine)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_registry() -> Iterator[LiveRegistry]:
    with fresh_database("autoglm_live") as database_url:
        migrations.upgrade(database_url)
        port = free_port()
        app = create_app(Settings(database_url=database_url))
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the registry server did not start")
            time.sleep(0.02)
        engine = make_engine(database_url)
        try:
            yield LiveRegistry(f"http://127.0.0.1:{port}", database_url, engine)
        finally:
            server.should_exit = True
            thread.join(10)
            engine.dispose()
            app.state.sessions.kw["bind"].dispose()
