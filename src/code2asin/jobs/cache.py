"""Lookup cache shared by every job: (provider, marketplace, key) -> provider answer, with expiry.

Identify answers are keyed ``gtin:<14 digits>`` and live ``cache_ttl_seconds`` (7 days by default); enrich
answers are keyed ``asin:<ASIN>`` and live ``price_cache_ttl_seconds`` (1 hour) because they carry prices.
Re-running a catalogue therefore spends no quota twice. Reads and writes are batched (one query each).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, fields
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from code2asin.db import Database
from code2asin.jobs.models import LookupCache, utcnow
from code2asin.providers.base import Candidate

_CANDIDATE_FIELDS = {f.name for f in fields(Candidate)}


def candidate_to_dict(candidate: Candidate) -> dict[str, Any]:
    data = asdict(candidate)
    if candidate.price is not None:
        data["price"] = str(candidate.price)
    return data


def candidate_from_dict(data: Mapping[str, Any]) -> Candidate:
    values = {k: v for k, v in data.items() if k in _CANDIDATE_FIELDS}
    if values.get("price") is not None:
        values["price"] = Decimal(str(values["price"]))
    return Candidate(**values)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=utcnow().tzinfo)


class LookupCacheStore:
    def __init__(self, db: Database, ttl_seconds: int, price_ttl_seconds: int) -> None:
        self.db = db
        self.ttl = timedelta(seconds=ttl_seconds)
        self.price_ttl = timedelta(seconds=price_ttl_seconds)

    def get(self, provider: str, marketplace: str, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Fresh payloads for ``keys`` (missing or expired keys are absent)."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        now = utcnow()
        found: dict[str, dict[str, Any]] = {}
        with self.db.unit_of_work() as session:
            for start in range(0, len(wanted), 500):
                rows = session.execute(
                    select(LookupCache.key, LookupCache.payload, LookupCache.expires_at).where(
                        LookupCache.provider == provider,
                        LookupCache.marketplace == marketplace,
                        LookupCache.key.in_(wanted[start : start + 500]),
                    )
                ).all()
                for row in rows:
                    key, payload, expires_at = str(row[0]), dict(row[1]), row[2]
                    if _aware(expires_at) > now:
                        found[key] = payload
        return found

    def put(
        self, provider: str, marketplace: str, payloads: Mapping[str, dict[str, Any]], *, prices: bool
    ) -> None:
        """Store ``payloads`` (replacing older answers for the same keys)."""
        if not payloads:
            return
        now = utcnow()
        expires = now + (self.price_ttl if prices else self.ttl)
        rows = [
            {
                "provider": provider,
                "marketplace": marketplace,
                "key": key,
                "payload": payload,
                "fetched_at": now,
                "expires_at": expires,
            }
            for key, payload in payloads.items()
        ]
        with self.db.unit_of_work() as session:
            # an upsert: two chunks storing the same new key at once must not collide
            insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
            stmt = insert(LookupCache).values(rows)
            session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["provider", "marketplace", "key"],
                    set_={
                        "payload": stmt.excluded.payload,
                        "fetched_at": stmt.excluded.fetched_at,
                        "expires_at": stmt.excluded.expires_at,
                    },
                )
            )
