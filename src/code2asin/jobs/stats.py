"""Statistics computed from the items, so the tiles always add up."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from code2asin.jobs.models import ItemStatus, JobItem
from code2asin.match_review import REVIEW_SUPPLIER_ASIN
from code2asin.tiles import Tile


@dataclass(frozen=True, slots=True)
class JobStatistics:
    total: int = 0
    matched: int = 0
    not_found: int = 0
    invalid: int = 0
    failed: int = 0
    pending: int = 0
    with_asin: int = 0
    with_images: int = 0
    with_price: int = 0
    exact_matches: int = 0
    partial_matches: int = 0
    fuzzy_matches: int = 0
    manual_matches: int = 0
    #: matched rows a person should check: the title or the price disagrees with the supplier's, or the
    #: supplier's own ASIN differs from the one found (``JobItem.review_flags``)
    needs_review: int = 0
    #: matched rows whose supplier ASIN column names another ASIN
    asin_differs: int = 0
    #: mean confidence of the rows that have an ASIN, 0..1 (None when no row has one)
    avg_confidence: float | None = None

    @property
    def processed(self) -> int:
        return self.total - self.pending

    def tiles(self) -> list[Tile]:
        """The seed's 8 tiles, then the rows that need a person's review."""
        return [
            Tile("Total Codes", self.total),
            Tile("With ASIN", self.with_asin),
            Tile("With Images", self.with_images),
            Tile("With Price", self.with_price),
            Tile("Exact Matches", self.exact_matches),
            Tile("Fuzzy Matches", self.fuzzy_matches),
            Tile("Partial Matches", self.partial_matches),
            Tile("Avg Confidence", self.avg_confidence, "percent"),
            Tile("Needs Review", self.needs_review),
            Tile("Supplier ASIN Differs", self.asin_differs),
        ]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def job_counters(session: Session, job_id: str) -> dict[str, int]:
    """The job's counters recounted from its items (one grouped query), keyed like the ``jobs`` columns."""
    counts: dict[str, int] = {
        str(status): int(n)
        for status, n in session.execute(
            select(JobItem.status, func.count()).where(JobItem.job_id == job_id).group_by(JobItem.status)
        ).all()
    }
    total = sum(counts.values())
    processed = total - counts.get(ItemStatus.PENDING, 0)
    matched = counts.get(ItemStatus.MATCHED, 0)
    return {
        "total_codes": total,
        "processed_codes": processed,
        "successful_conversions": matched,
        "failed_conversions": processed - matched,
    }


def _count_if(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def job_statistics(session: Session, job_id: str, marketplace: str | None = None) -> JobStatistics:
    """One aggregate query over the job's items (on ``marketplace`` only, when given)."""
    has_asin = (JobItem.status == ItemStatus.MATCHED) & JobItem.asin.is_not(None)
    stmt = select(
        func.count(JobItem.id),
        _count_if(JobItem.status == ItemStatus.MATCHED),
        _count_if(JobItem.status == ItemStatus.NOT_FOUND),
        _count_if(JobItem.status == ItemStatus.INVALID),
        _count_if(JobItem.status == ItemStatus.FAILED),
        _count_if(JobItem.status == ItemStatus.PENDING),
        _count_if(has_asin),
        # stored_images is NULL unless at least one image was stored (never an empty list)
        _count_if(has_asin & JobItem.stored_images.is_not(None)),
        _count_if(has_asin & JobItem.amazon_price.is_not(None)),
        _count_if(has_asin & (JobItem.match_type == "exact")),
        _count_if(has_asin & (JobItem.match_type == "partial")),
        _count_if(has_asin & (JobItem.match_type == "fuzzy")),
        _count_if(has_asin & (JobItem.match_type == "manual")),
        _count_if(has_asin & JobItem.review_flags.is_not(None)),
        _count_if(has_asin & JobItem.review_flags.contains(REVIEW_SUPPLIER_ASIN)),
        func.avg(case((has_asin, JobItem.match_confidence), else_=None)),
    ).where(JobItem.job_id == job_id)
    if marketplace is not None:
        stmt = stmt.where(JobItem.marketplace == marketplace)
    row = session.execute(stmt).one()
    names = [f.name for f in fields(JobStatistics) if f.name != "avg_confidence"]
    counts = {name: int(value or 0) for name, value in zip(names, row[:-1], strict=True)}
    avg = None if row[-1] is None else round(float(row[-1]), 4)
    return JobStatistics(**counts, avg_confidence=avg)
