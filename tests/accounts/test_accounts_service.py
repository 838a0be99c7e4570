"""Tokens and users: random, shown once, stored hashed, expiring, revocable; passwords hashed by scrypt."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from code2asin.accounts.models import ApiToken, Permission, User
from code2asin.accounts.service import (
    authenticate,
    create_token,
    create_user,
    has_any_principal,
    list_tokens,
    revoke_token,
    token_state,
    verify_token,
)
from code2asin.db import Database
from code2asin.errors import InvalidValueError, NotFoundError
from code2asin.jobs.models import utcnow


def test_a_token_is_random_shown_once_and_stored_only_as_its_sha256(any_db: Database) -> None:
    with any_db.unit_of_work() as session:
        token, plaintext = create_token(session, ["READ_CODE2ASIN,WRITE_CODE2ASIN"], ["SUP1"], 30, "ci")
        _other, second = create_token(session, ["read"])
    assert plaintext.startswith("c2a_") and len(plaintext) >= 40 and plaintext != second
    with any_db.unit_of_work() as session:
        stored = session.get(ApiToken, token.id)
        assert stored is not None
        assert stored.token_hash == hashlib.sha256(plaintext.encode()).hexdigest()
        assert plaintext not in (stored.prefix + stored.token_hash) and plaintext.startswith(stored.prefix)
        assert stored.permissions == ["READ_CODE2ASIN", "WRITE_CODE2ASIN"] and stored.suppliers == ["SUP1"]
        principal = verify_token(session, plaintext)
    assert principal is not None
    assert principal.has(Permission.WRITE) and not principal.has(Permission.DELETE)
    assert principal.can_see("SUP1") and not principal.can_see("SUP2")


def test_verify_refuses_unknown_expired_and_revoked_tokens(any_db: Database) -> None:
    with any_db.unit_of_work() as session:
        expired, expired_text = create_token(session, ["READ_CODE2ASIN"], expires_in_days=1)
        revoked, revoked_text = create_token(session, ["READ_CODE2ASIN"])
        expired.expires_at = utcnow() - timedelta(minutes=1)
    with any_db.unit_of_work() as session:
        revoke_token(session, revoked.id)
    with any_db.unit_of_work() as session:
        assert verify_token(session, expired_text) is None
        assert verify_token(session, revoked_text) is None
        assert verify_token(session, "c2a_" + "x" * 43) is None
        assert verify_token(session, "not-even-prefixed") is None
        states = {t.id: token_state(t) for t in list_tokens(session)}
    assert states == {expired.id: "expired", revoked.id: "revoked"}


def test_last_used_is_written_at_most_once_a_minute(any_db: Database) -> None:
    with any_db.unit_of_work() as session:
        token, plaintext = create_token(session, ["READ_CODE2ASIN"])
    for _ in range(3):
        with any_db.unit_of_work() as session:
            verify_token(session, plaintext)
    with any_db.unit_of_work() as session:
        stored = session.get(ApiToken, token.id)
        assert stored is not None and stored.last_used_at is not None and stored.use_count == 1


def test_token_creation_refuses_unknown_permissions_and_bad_expiry(sqlite_db: Database) -> None:
    with sqlite_db.unit_of_work() as session:
        with pytest.raises(InvalidValueError, match="Unknown permission 'FLY'"):
            create_token(session, ["FLY"])
        with pytest.raises(InvalidValueError, match="at least one permission"):
            create_token(session, [""])
        with pytest.raises(InvalidValueError, match="positive"):
            create_token(session, ["READ_CODE2ASIN"], expires_in_days=0)
        with pytest.raises(NotFoundError):
            revoke_token(session, "missing")


def test_a_user_password_is_scrypt_hashed_with_salt_and_parameters(any_db: Database) -> None:
    with any_db.unit_of_work() as session:
        assert not has_any_principal(session)
        user = create_user(session, "alice", "correct horse", ["ADMIN_CODE2ASIN"])
        twin = create_user(session, "bob", "correct horse", ["READ_CODE2ASIN"], ["SUP1"])
    assert user.password_hash.startswith("scrypt$16384$8$1$") and "correct horse" not in user.password_hash
    assert user.password_hash != twin.password_hash  # salted
    with any_db.unit_of_work() as session:
        assert has_any_principal(session)
        principal = authenticate(session, "alice", "correct horse")
        assert principal is not None and principal.has(Permission.DELETE)
        assert authenticate(session, "alice", "wrong password") is None
        assert authenticate(session, "nobody", "correct horse") is None
        session.query(User).filter(User.username == "bob").update({"is_active": False})
        assert authenticate(session, "bob", "correct horse") is None
        with pytest.raises(InvalidValueError, match="taken"):
            create_user(session, "alice", "another pass", ["READ_CODE2ASIN"])
        with pytest.raises(InvalidValueError, match="8 characters"):
            create_user(session, "carol", "short", ["READ_CODE2ASIN"])


def test_a_token_of_an_inactive_user_stops_working(sqlite_db: Database) -> None:
    with sqlite_db.unit_of_work() as session:
        user = create_user(session, "dave", "long enough", ["READ_CODE2ASIN"])
        _, plaintext = create_token(session, ["READ_CODE2ASIN"], user_id=user.id)
    with sqlite_db.unit_of_work() as session:
        assert verify_token(session, plaintext) is not None
        session.query(User).update({"is_active": False})
    with sqlite_db.unit_of_work() as session:
        assert verify_token(session, plaintext) is None
