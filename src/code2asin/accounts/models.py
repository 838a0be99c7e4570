"""Users (web sign-in) and API tokens (``Authorization: Bearer``). Secrets are stored hashed only."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from code2asin.jobs.models import Base, new_id, utcnow


class Permission(StrEnum):
    READ = "READ_CODE2ASIN"
    WRITE = "WRITE_CODE2ASIN"
    DELETE = "DELETE_CODE2ASIN"
    ADMIN = "ADMIN_CODE2ASIN"


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(200), unique=True)
    #: a password hash (scrypt, with its parameters and salt), never the password
    password_hash: Mapped[str] = mapped_column(String(300))
    permissions: Mapped[list[Any]] = mapped_column(JSON(none_as_null=True), default=list)
    #: empty = every supplier; otherwise the supplier codes this user may see
    suppliers: Mapped[list[Any]] = mapped_column(JSON(none_as_null=True), default=list)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    #: the first characters of the token, shown in listings so a person can tell tokens apart
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    #: SHA-256 of the whole token (tokens are long random strings, so a fast hash is enough)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    permissions: Mapped[list[Any]] = mapped_column(JSON(none_as_null=True), default=list)
    suppliers: Mapped[list[Any]] = mapped_column(JSON(none_as_null=True), default=list)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    use_count: Mapped[int] = mapped_column(Integer, default=0)
