"""Request dependencies: settings, a database session, and the authenticated actor."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings
from registry.accounts import authenticate
from registry.errors import Unauthenticated
from registry.permissions import Actor

bearer = HTTPBearer(auto_error=False, description="A token from `autoglm admin token create`.")


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """One session per request; handlers commit what they change, anything else rolls back."""
    sessions: sessionmaker[Session] = request.app.state.sessions
    with sessions() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]


def current_actor(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Actor:
    if credentials is None:
        raise Unauthenticated("missing bearer token (Authorization: Bearer ...)")
    return authenticate(session, credentials.credentials)


CurrentActor = Annotated[Actor, Depends(current_actor)]
