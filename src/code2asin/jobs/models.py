"""Database models of jobs, their items (one per input row), conversion logs, timeline events and chunks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    @classmethod
    def table(cls) -> Table:
        """The model's Core table (for bulk inserts that skip the ORM's per-object work)."""
        table = cls.__table__
        assert isinstance(table, Table)
        return table

    type_annotation_map = {dict[str, Any]: JSON(none_as_null=True), list[Any]: JSON(none_as_null=True)}


class JobStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class JobMode(StrEnum):
    AMAZON = "amazon"
    DIRECT = "direct"


class ItemStatus(StrEnum):
    """Row statuses. ``pending`` is internal; every row ends in one of the four others."""

    PENDING = "pending"
    MATCHED = "matched"
    NOT_FOUND = "not_found"
    INVALID = "invalid"
    FAILED = "failed"


class ChunkStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"


Timestamp = DateTime(timezone=True)
#: Python None is stored as SQL NULL (not the JSON text "null"), so "IS NULL" means "no value"
NullableJSON = JSON(none_as_null=True)


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    supplier_code: Mapped[str] = mapped_column(String(100), index=True)
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.PENDING, index=True)
    mode: Mapped[str] = mapped_column(String(20), default=JobMode.AMAZON)
    #: the job's first (or only) marketplace
    marketplace: Mapped[str] = mapped_column(String(8), default="FR")
    #: every marketplace of a several-marketplace job, in the order asked (NULL: just ``marketplace``;
    #: migration 0005)
    marketplaces: Mapped[list[str] | None] = mapped_column(NullableJSON)
    provider_plan: Mapped[str] = mapped_column(String(100), default="sandbox")
    options: Mapped[dict[str, Any]] = mapped_column(NullableJSON, default=dict)
    source_filename: Mapped[str] = mapped_column(String(500))
    source_key: Mapped[str | None] = mapped_column(String(500))
    #: what ingest found: format, sheet, header row, headers, column roles
    source_info: Mapped[dict[str, Any]] = mapped_column(NullableJSON, default=dict)
    total_codes: Mapped[int] = mapped_column(Integer, default=0)
    processed_codes: Mapped[int] = mapped_column(Integer, default=0)
    successful_conversions: Mapped[int] = mapped_column(Integer, default=0)
    failed_conversions: Mapped[int] = mapped_column(Integer, default=0)
    retry_count: Mapped[int] = mapped_column(Integer, default=0)
    max_retries: Mapped[int] = mapped_column(Integer, default=5)
    #: provider calls and Keepa tokens spent so far (counted before each call; the caps read them)
    provider_calls: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    keepa_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: the duration and cost expected when the job was created (``jobs.estimate``)
    estimate: Mapped[dict[str, Any] | None] = mapped_column(NullableJSON)
    error_message: Mapped[str | None] = mapped_column(Text)
    #: the statistics grid of a finished job, with the fingerprint that says it is still current
    #: (written and read by ``jobs.stats_snapshot``; migration 0003)
    stats_snapshot: Mapped[dict[str, Any] | None] = mapped_column(NullableJSON)
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(Timestamp)
    completed_at: Mapped[datetime | None] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, onupdate=utcnow)

    @property
    def marketplace_list(self) -> list[str]:
        """The job's marketplaces in order (one for most jobs)."""
        return list(self.marketplaces or [self.marketplace])


class JobItem(Base):
    """One input data row's result on one marketplace.

    Unique on (job_id, row_no, marketplace) so a chunk can run twice; a job on several marketplaces has one
    item per row and marketplace.
    """

    __tablename__ = "job_items"
    __table_args__ = (
        UniqueConstraint("job_id", "row_no", "marketplace", name="uq_job_items_job_row_marketplace"),
        Index("ix_job_items_job_status", "job_id", "status"),
        Index("ix_job_items_job_gtin", "job_id", "gtin"),
        Index(
            "ix_job_items_job_review",
            "job_id",
            "row_no",
            postgresql_where=text("review_flags IS NOT NULL"),
            sqlite_where=text("review_flags IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    row_no: Mapped[int] = mapped_column(Integer)
    marketplace: Mapped[str] = mapped_column(String(8))
    chunk_no: Mapped[int] = mapped_column(Integer, default=0)
    input_code: Mapped[str] = mapped_column(Text, default="")
    code_type: Mapped[str | None] = mapped_column(String(10))
    gtin: Mapped[str | None] = mapped_column(String(14))
    product_ean: Mapped[str | None] = mapped_column(String(13))
    status: Mapped[str] = mapped_column(String(20), default=ItemStatus.PENDING)
    asin: Mapped[str | None] = mapped_column(String(10))
    match_type: Mapped[str | None] = mapped_column(String(10))
    match_confidence: Mapped[float | None] = mapped_column(Float)
    amazon_title: Mapped[str | None] = mapped_column(Text)
    amazon_brand: Mapped[str | None] = mapped_column(String(500))
    amazon_price: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    amazon_currency: Mapped[str | None] = mapped_column(String(3))
    amazon_rating: Mapped[float | None] = mapped_column(Float)
    amazon_review_count: Mapped[int | None] = mapped_column(Integer)
    amazon_sales_rank: Mapped[int | None] = mapped_column(Integer)
    amazon_images: Mapped[list[Any] | None] = mapped_column(NullableJSON)
    stored_images: Mapped[list[Any] | None] = mapped_column(NullableJSON)
    detail_page_url: Mapped[str | None] = mapped_column(Text)
    #: every candidate with its reasons: [{"asin", "score", "match_type", "reasons": [...]}]
    candidates: Mapped[list[Any] | None] = mapped_column(NullableJSON)
    #: which provider supplied each field of the result: {"amazon_title": "creators", ...}
    field_sources: Mapped[dict[str, str] | None] = mapped_column(NullableJSON)
    supplier_title: Mapped[str | None] = mapped_column(Text)
    supplier_price: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))
    supplier_sku: Mapped[str | None] = mapped_column(String(200))
    #: the brand column of the supplier's file (migration 0008), for the title search fallback
    supplier_brand: Mapped[str | None] = mapped_column(String(500))
    input_asin: Mapped[str | None] = mapped_column(String(50))
    #: the input row's own cells, in input column order
    input_values: Mapped[list[Any]] = mapped_column(NullableJSON, default=list)
    error_type: Mapped[str | None] = mapped_column(String(20))
    error_message: Mapped[str | None] = mapped_column(Text)
    #: what a person should check on a matched row: "title", "price", "supplier_asin", comma-separated
    review_flags: Mapped[str | None] = mapped_column(String(60))
    #: the first row of the file with the same code (looked up once)
    duplicate_of: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(Timestamp)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, onupdate=utcnow)


class ConversionLog(Base):
    """The seed's per-code log (input_code, previous/new ASIN, reason, confidence, timing, api_response)."""

    __tablename__ = "conversion_logs"
    __table_args__ = (Index("ix_conversion_logs_job_id_id", "job_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    row_no: Mapped[int | None] = mapped_column(Integer)
    marketplace: Mapped[str | None] = mapped_column(String(8))
    timestamp: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    level: Mapped[str] = mapped_column(String(10), default="info")
    input_code: Mapped[str | None] = mapped_column(Text)
    code_type: Mapped[str | None] = mapped_column(String(10))
    previous_asin: Mapped[str | None] = mapped_column(String(10))
    new_asin: Mapped[str | None] = mapped_column(String(10))
    change_reason: Mapped[str | None] = mapped_column(String(50))
    confidence_score: Mapped[float | None] = mapped_column(Float)
    processing_time_ms: Mapped[int | None] = mapped_column(Integer)
    api_response: Mapped[dict[str, Any] | None] = mapped_column(NullableJSON)
    error_type: Mapped[str | None] = mapped_column(String(20))
    message: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(String(200))


class JobEvent(Base):
    """The job's timeline: every transition and progress step, with time and actor."""

    __tablename__ = "job_events"
    __table_args__ = (Index("ix_job_events_job_id_id", "job_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    event: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str | None] = mapped_column(String(200))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    detail: Mapped[dict[str, Any] | None] = mapped_column(NullableJSON)


class JobChunk(Base):
    """A run of up to 100 rows: the unit a worker leases, runs and commits in one transaction."""

    __tablename__ = "job_chunks"
    __table_args__ = (UniqueConstraint("job_id", "chunk_no", name="uq_job_chunks_job_chunk"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    chunk_no: Mapped[int] = mapped_column(Integer)
    #: the marketplace this chunk's rows are looked up on
    marketplace: Mapped[str] = mapped_column(String(8))
    first_row: Mapped[int] = mapped_column(Integer)
    last_row: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default=ChunkStatus.PENDING)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column(Timestamp)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(Timestamp)
    #: rows of the running run whose code was looked up / whose candidates were enriched (not committed yet)
    looked_up_rows: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    enriched_rows: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, onupdate=utcnow)


class LookupCache(Base):
    """Provider answers shared across jobs: (provider, marketplace, gtin) -> candidates, with expiry."""

    __tablename__ = "lookup_cache"
    __table_args__ = (UniqueConstraint("provider", "marketplace", "key", name="uq_lookup_cache_key"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    provider: Mapped[str] = mapped_column(String(40))
    marketplace: Mapped[str] = mapped_column(String(8))
    #: ``gtin:<14 digits>`` for identify answers, ``asin:<ASIN>`` for enrich answers
    key: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(NullableJSON)
    fetched_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(Timestamp)


class MatchDecisionRecord(Base):
    """A person's accept or reject of an ASIN for one supplier's code (migration 0008).

    ``code_key`` is the row's GTIN-14, or ``raw:<code as written>`` for a row without a valid code. Later
    jobs of the supplier apply an ``accepted`` ASIN as ``manual`` and never propose a ``rejected`` one.
    """

    __tablename__ = "match_decisions"
    __table_args__ = (
        UniqueConstraint("supplier_code", "code_key", "asin", name="uq_match_decisions_code_asin"),
        Index("ix_match_decisions_supplier_code", "supplier_code", "code_key"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    supplier_code: Mapped[str] = mapped_column(String(100))
    code_key: Mapped[str] = mapped_column(String(40))
    asin: Mapped[str] = mapped_column(String(10))
    #: ``accepted`` or ``rejected``
    decision: Mapped[str] = mapped_column(String(10))
    actor: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    #: where the decision was made (kept when that job is deleted: no foreign key)
    job_id: Mapped[str | None] = mapped_column(String(36))
    row_no: Mapped[int | None] = mapped_column(Integer)
    input_code: Mapped[str | None] = mapped_column(Text)
    supplier_title: Mapped[str | None] = mapped_column(Text)
    amazon_title: Mapped[str | None] = mapped_column(Text)
