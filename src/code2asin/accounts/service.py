"""Accounts: API tokens and users, and the ``Principal`` a request acts as.

* Tokens are ``c2a_`` + 43 random URL-safe characters, shown once. The database keeps the SHA-256 hex of
  the whole token (a long random secret needs no slow hash) and its first characters (``prefix``) so a
  person can tell tokens apart in listings. A token may expire, be revoked, and be restricted to supplier
  codes (empty = every supplier).
* Users sign in with a password hashed by ``hashlib.scrypt``; the hash string carries its parameters and
  salt (``scrypt$n$r$p$salt$hash``) so they can be raised later without breaking old hashes.
* Optionally a JWT signed with a shared secret (HS256) by an upstream identity provider is accepted; its
  ``permissions`` claim (a list or a space-separated string) and optional ``suppliers`` claim are used.

Errors: ``InvalidValueError`` (bad permission name, expiry, username or password), ``NotFoundError``
(unknown token). Functions take the caller's session and never commit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, or_, select, update
from sqlalchemy.orm import Session

from code2asin.accounts.models import ApiToken, Permission, User
from code2asin.errors import Code2AsinError, InvalidValueError, NotFoundError
from code2asin.jobs.models import utcnow

TOKEN_PREFIX = "c2a_"
PREFIX_CHARS = 12
MAX_TOKEN_LENGTH = 200
#: ``last_used_at`` is written at most this often per token, so a busy token costs no write per request
LAST_USED_RESOLUTION = timedelta(seconds=60)
SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_DKLEN = 2**14, 8, 1, 32


class AuthenticationError(Code2AsinError):
    """No credentials, or credentials that are unknown, expired or revoked (HTTP 401)."""


class PermissionDeniedError(Code2AsinError):
    """The caller is authenticated but lacks the permission or the supplier (HTTP 403)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as: a token, a user or an upstream JWT subject."""

    kind: str
    id: str
    name: str
    permissions: frozenset[Permission]
    #: empty = every supplier
    suppliers: frozenset[str] = frozenset()

    def has(self, permission: Permission) -> bool:
        return Permission.ADMIN in self.permissions or permission in self.permissions

    def can_see(self, supplier_code: str) -> bool:
        return not self.suppliers or supplier_code in self.suppliers

    @property
    def supplier_scope(self) -> frozenset[str] | None:
        """The supplier codes to filter on, or None for every supplier."""
        return self.suppliers or None

    @property
    def actor(self) -> str:
        """How the principal appears in timelines and logs (never a secret)."""
        return f"{self.kind}:{self.name or self.id}"


def parse_permissions(values: Iterable[str]) -> frozenset[Permission]:
    """Permission names (``READ_CODE2ASIN``; ``read`` is accepted too) -> a set; raises on unknown names."""
    result: set[Permission] = set()
    known = {p.value: p for p in Permission}
    for raw in values:
        for part in raw.replace(",", " ").split():
            name = part.strip().upper()
            if not name.endswith("_CODE2ASIN"):
                name += "_CODE2ASIN"
            if name not in known:
                raise InvalidValueError(
                    f"Unknown permission {part!r}: use {', '.join(p.value for p in Permission)}."
                )
            result.add(known[name])
    return frozenset(result)


def _suppliers(values: Iterable[str]) -> list[str]:
    return sorted({v.strip() for v in values if v.strip()})


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands timezone-aware columns back naive; they were written in UTC
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=utcnow().tzinfo)
    return value


def hash_token(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


# -- tokens ----------------------------------------------------------------------------------------


def create_token(
    session: Session,
    permissions: Iterable[str],
    suppliers: Iterable[str] = (),
    expires_in_days: int | None = None,
    name: str | None = None,
    user_id: str | None = None,
) -> tuple[ApiToken, str]:
    """Create a token; returns the row and the plaintext token (shown once, never stored).

    Raises ``InvalidValueError`` when no permission or an unknown one is given, or the expiry is not
    a positive number of days.
    """
    granted = parse_permissions(permissions)
    if not granted:
        raise InvalidValueError("A token needs at least one permission.")
    if expires_in_days is not None and expires_in_days <= 0:
        raise InvalidValueError("--expires-in-days must be a positive number of days.")
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    token = ApiToken(
        prefix=plaintext[:PREFIX_CHARS],
        token_hash=hash_token(plaintext),
        name=name,
        permissions=sorted(p.value for p in granted),
        suppliers=_suppliers(suppliers),
        user_id=user_id,
        created_at=now,
        expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
        use_count=0,
    )
    session.add(token)
    session.flush()
    return token, plaintext


def verify_token(session: Session, plaintext: str) -> Principal | None:
    """The principal of a valid token, or None when it is unknown, expired, revoked or its user inactive.

    The lookup is by the token's hash, so comparing never touches the secret itself; ``last_used_at``
    is updated at most once a minute (``use_count`` counts those updates).
    """
    if not plaintext.startswith(TOKEN_PREFIX) or len(plaintext) > MAX_TOKEN_LENGTH:
        return None
    digest = hash_token(plaintext)
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        return None
    now = utcnow()
    expires_at = _aware(token.expires_at)
    if token.revoked_at is not None or (expires_at is not None and expires_at <= now):
        return None
    if token.user_id is not None:
        active = session.scalar(select(User.is_active).where(User.id == token.user_id))
        if not active:
            return None
    session.execute(
        update(ApiToken)
        .where(
            ApiToken.id == token.id,
            or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now - LAST_USED_RESOLUTION),
        )
        .values(last_used_at=now, use_count=ApiToken.use_count + 1)
        .execution_options(synchronize_session=False)
    )
    return Principal(
        kind="token",
        id=token.id,
        name=token.name or token.prefix,
        permissions=parse_permissions(token.permissions),
        suppliers=frozenset(token.suppliers or ()),
    )


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.created_at, ApiToken.id)))


def revoke_token(session: Session, token_id: str) -> ApiToken:
    """Revoke a token by id (or by its unique listed prefix); revoking twice keeps the first time."""
    token = session.get(ApiToken, token_id)
    if token is None and token_id.startswith(TOKEN_PREFIX):
        matches = list(session.scalars(select(ApiToken).where(ApiToken.prefix == token_id[:PREFIX_CHARS])))
        token = matches[0] if len(matches) == 1 else None
    if token is None:
        raise NotFoundError(f"Token {token_id} does not exist.")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    return token


def token_state(token: ApiToken, now: datetime | None = None) -> str:
    """``active``, ``expired`` or ``revoked`` (for listings)."""
    now = now or utcnow()
    expires_at = _aware(token.expires_at)
    if token.revoked_at is not None:
        return "revoked"
    if expires_at is not None and expires_at <= now:
        return "expired"
    return "active"


def has_any_principal(session: Session) -> bool:
    """True when a user or a token exists (``serve`` explains how to create the first one otherwise)."""
    return bool(session.scalar(select(exists().where(User.id.is_not(None))))) or bool(
        session.scalar(select(exists().where(ApiToken.id.is_not(None))))
    )


# -- users -----------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=SCRYPT_DKLEN
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        expected = _unb64(digest)
        actual = hashlib.scrypt(
            password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except ValueError:
        return False
    return scheme == "scrypt" and hmac.compare_digest(actual, expected)


#: verified against when the username is unknown, so both cases take the same time
_DUMMY_HASH = f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(b'0' * 16)}${_b64(b'0' * 32)}"


def create_user(
    session: Session,
    username: str,
    password: str,
    permissions: Iterable[str],
    suppliers: Iterable[str] = (),
) -> User:
    """Create a user; raises ``InvalidValueError`` on an empty/taken username or a short password."""
    username = username.strip()
    if not username:
        raise InvalidValueError("The username is empty.")
    if len(password) < 8:
        raise InvalidValueError("The password must have at least 8 characters.")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise InvalidValueError(f"The username {username!r} is taken.")
    user = User(
        username=username,
        password_hash=hash_password(password),
        permissions=sorted(p.value for p in parse_permissions(permissions)),
        suppliers=_suppliers(suppliers),
        is_active=True,
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> Principal | None:
    """The principal of an active user whose password matches, else None (same cost either way)."""
    user = session.scalar(select(User).where(User.username == username.strip()))
    if user is None or not user.is_active:
        verify_password(password, _DUMMY_HASH)
        return None
    if not verify_password(password, user.password_hash):
        return None
    return Principal(
        kind="user",
        id=user.id,
        name=user.username,
        permissions=parse_permissions(user.permissions),
        suppliers=frozenset(user.suppliers or ()),
    )


# -- upstream identity provider --------------------------------------------------------------------


def verify_jwt(token: str, secret: str, *, audience: str | None = None) -> Principal | None:
    """The principal of an HS256 JWT signed with ``secret`` (``exp`` required), else None.

    Claims: ``sub`` (the subject), ``permissions`` (list or space-separated string, unknown names
    ignored), optional ``suppliers`` (list).
    """
    import jwt

    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=audience,
            options={"require": ["exp", "sub"], "verify_aud": audience is not None},
        )
    except jwt.PyJWTError:
        return None
    raw = claims.get("permissions") or []
    names = raw.split() if isinstance(raw, str) else [str(v) for v in raw]
    known = {p.value for p in Permission}
    permissions = frozenset(Permission(n) for n in names if n in known)
    suppliers = claims.get("suppliers") or []
    return Principal(
        kind="jwt",
        id=str(claims["sub"]),
        name=str(claims["sub"]),
        permissions=permissions,
        suppliers=frozenset(str(s) for s in suppliers) if isinstance(suppliers, list) else frozenset(),
    )
