"""Sessions, CSRF tokens and the signed secret they rest on.

* The session is one cookie (``code2asin_session``), signed with ``itsdangerous`` under the secret key
  and valid for ``SESSION_MAX_AGE``. It holds the user id (once signed in) and a random CSRF token. A
  visitor who is not signed in gets a session too, so the sign-in form is protected like every other.
* CSRF: every form carries the session's token in a hidden ``csrf_token`` field; a POST whose field
  does not equal the session's token (compared in constant time) is refused with 403. The token is
  rotated at sign-in and sign-out. The cookie is ``HttpOnly`` and ``SameSite=Lax`` (and ``Secure``
  over https), which already stops most cross-site posts; the token covers the rest.
* The secret key: ``settings.secret_key`` (proposed ``CODE2ASIN_SECRET_KEY``) when set; otherwise a
  random key generated once and kept in ``<data_dir>/web-secret-key`` (mode 0600), which suits the
  embedded mode. Several web processes on different hosts must share ``CODE2ASIN_SECRET_KEY``.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

from code2asin.config import Settings

SESSION_COOKIE = "code2asin_session"
SESSION_MAX_AGE = 12 * 3600
SECRET_FILE = "web-secret-key"
_MIN_SECRET_CHARS = 16


def secret_key(settings: Settings) -> str:
    """The configured secret, else the one stored under the data dir (created on first use)."""
    configured = getattr(settings, "secret_key", None)
    if configured is not None:
        value = configured.get_secret_value() if hasattr(configured, "get_secret_value") else configured
        if isinstance(value, str) and value.strip():
            if len(value.strip()) < _MIN_SECRET_CHARS:
                raise ValueError(
                    f"CODE2ASIN_SECRET_KEY is too short: use at least {_MIN_SECRET_CHARS} random characters."
                )
            return value.strip()
    path = Path(settings.data_dir) / SECRET_FILE
    try:
        stored = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        stored = ""
    if len(stored) >= _MIN_SECRET_CHARS:
        return stored
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = secrets.token_urlsafe(48)
    # O_EXCL: when two processes race, the second one reads the first one's key instead
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(fresh)
    return fresh


@dataclass
class WebSession:
    """The decoded session cookie; ``changed`` says whether it must be sent back."""

    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    user_id: str | None = None
    #: one message shown on the next page: (level, text)
    flash: tuple[str, str] | None = None
    changed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"csrf": self.csrf, "uid": self.user_id, "fl": list(self.flash) if self.flash else None}

    def rotate(self, user_id: str | None) -> None:
        """Sign in (or out): a new CSRF token so a token seen before the change is worthless after."""
        self.csrf = secrets.token_urlsafe(32)
        self.user_id = user_id
        self.changed = True

    def csrf_ok(self, submitted: str | None) -> bool:
        return bool(submitted) and hmac.compare_digest(self.csrf.encode(), (submitted or "").encode())


class SessionCodec:
    """Signs and reads the session cookie, and signs small values handed through forms."""

    def __init__(self, key: str) -> None:
        self._session = URLSafeTimedSerializer(key, salt="code2asin.web.session")
        self._forms = URLSafeTimedSerializer(key, salt="code2asin.web.form")

    def load(self, cookie: str | None) -> WebSession:
        if cookie:
            try:
                data = self._session.loads(cookie, max_age=SESSION_MAX_AGE)
            except BadSignature:
                data = None
            if isinstance(data, dict) and isinstance(data.get("csrf"), str):
                uid = data.get("uid")
                flash = data.get("fl")
                return WebSession(
                    csrf=data["csrf"],
                    user_id=uid if isinstance(uid, str) else None,
                    flash=(str(flash[0]), str(flash[1]))
                    if isinstance(flash, list) and len(flash) == 2
                    else None,
                )
        return WebSession(changed=True)

    def dump(self, session: WebSession) -> str:
        return self._session.dumps(session.as_dict())

    def sign(self, value: dict[str, Any]) -> str:
        return self._forms.dumps(value)

    def unsign(self, token: str, max_age: int) -> dict[str, Any] | None:
        """The signed value, or None when it is forged, malformed or older than ``max_age`` seconds."""
        try:
            data = self._forms.loads(token, max_age=max_age)
        except BadSignature:
            return None
        return data if isinstance(data, dict) else None
