"""Dependencies of the routes: the app's state, a read session, the principal and its permission.

``authorize`` is attached to every protected router: the permission follows the HTTP method (GET needs
READ_CODE2ASIN, POST WRITE_CODE2ASIN, DELETE DELETE_CODE2ASIN; ADMIN_CODE2ASIN implies them all), so a new
route cannot forget its check.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from code2asin.accounts.models import Permission
from code2asin.accounts.service import (
    TOKEN_PREFIX,
    AuthenticationError,
    PermissionDeniedError,
    Principal,
    verify_jwt,
    verify_token,
)
from code2asin.config import Settings
from code2asin.db import Database
from code2asin.jobs.dispatch import Dispatcher
from code2asin.storage import Storage, open_storage


@dataclass
class AppState:
    """What the routes share: settings, database, object storage and the job dispatcher."""

    settings: Settings
    db: Database
    dispatcher_: Dispatcher | None = None
    owns_db: bool = False
    owns_dispatcher: bool = False
    storage_: Storage | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def storage(self) -> Storage:
        with self._lock:
            if self.storage_ is None:
                self.storage_ = open_storage(self.settings)
            return self.storage_

    @property
    def dispatcher(self) -> Dispatcher:
        """The injected dispatcher, or one made on first use (Celery when a broker is configured)."""
        with self._lock:
            if self.dispatcher_ is None:
                self.dispatcher_ = make_dispatcher(self.settings, self.db)
                self.owns_dispatcher = True
            return self.dispatcher_

    @property
    def jwt_secret(self) -> str | None:
        # proposed setting CODE2ASIN_JWT_SECRET (SecretStr); read defensively until Settings has it
        secret = getattr(self.settings, "jwt_secret", None)
        if secret is None:
            return None
        value = secret.get_secret_value() if hasattr(secret, "get_secret_value") else str(secret)
        return value or None

    def close(self) -> None:
        if self.owns_dispatcher and self.dispatcher_ is not None:
            self.dispatcher_.close()
        if self.owns_db:
            self.db.dispose()


def make_dispatcher(settings: Settings, db: Database) -> Dispatcher:
    """The Celery dispatcher when a broker is configured, else the in-process pool."""
    from code2asin.jobs.celery_app import create_dispatcher

    return create_dispatcher(settings, db)


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.code2asin
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    """A session for reads; it is rolled back and closed after the request (writes use a unit of work)."""
    session = state.db.sessions()
    try:
        yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]

bearer = HTTPBearer(
    auto_error=False,
    description="An API token (`code2asin token create`), or a JWT of the configured identity provider.",
)


def get_principal(
    state: StateDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    """The caller; raises ``AuthenticationError`` (401) without a valid token."""
    if credentials is None or not credentials.credentials:
        raise AuthenticationError("Missing token: send the header Authorization: Bearer <token>.")
    token = credentials.credentials
    principal: Principal | None = None
    if token.startswith(TOKEN_PREFIX):
        with state.db.unit_of_work() as session:
            principal = verify_token(session, token)
    elif state.jwt_secret:
        principal = verify_jwt(token, state.jwt_secret)
    if principal is None:
        raise AuthenticationError("The token is not valid: it is unknown, expired or revoked.")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]

METHOD_PERMISSIONS = {"GET": Permission.READ, "HEAD": Permission.READ, "DELETE": Permission.DELETE}


def required_permission(method: str) -> Permission:
    return METHOD_PERMISSIONS.get(method.upper(), Permission.WRITE)


def authorize(request: Request, principal: CurrentPrincipal) -> Principal:
    """Check the permission the request's method needs; raises ``PermissionDeniedError`` (403)."""
    needed = required_permission(request.method)
    if not principal.has(needed):
        raise PermissionDeniedError(f"This token lacks the {needed.value} permission.")
    return principal
