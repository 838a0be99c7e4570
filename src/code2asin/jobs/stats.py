"""Statistics computed from the items, so the tiles always add up."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from code2asin.jobs.models import ItemStatus, JobItem


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
    #: mean confidence of the rows that have an ASIN, 0..1 (None when no row has one)
    avg_confidence: float | None = None

    @property
    def processed(self) -> int:
        return self.total - self.pending

    def tiles(self) -> list[tuple[str, str]]:
        """The seed's 8 tiles, labelled and formatted."""
        avg = "—" if self.avg_confidence is None else f"{self.avg_confidence * 100:.1f}%"
        return [
            ("Total Codes", f"{self.total:,}"),
            ("With ASIN", f"{self.with_asin:,}"),
            ("With Images", f"{self.with_images:,}"),
            ("With Price", f"{self.with_price:,}"),
            ("Exact Matches", f"{self.exact_matches:,}"),
            ("Fuzzy Matches", f"{self.fuzzy_matches:,}"),
            ("Partial Matches", f"{self.partial_matches:,}"),
            ("Avg Confidence", avg),
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
        func.avg(case((has_asin, JobItem.match_confidence), else_=None)),
    ).where(JobItem.job_id == job_id)
    if marketplace is not None:
        stmt = stmt.where(JobItem.marketplace == marketplace)
    row = session.execute(stmt).one()
    names = [f.name for f in fields(JobStatistics) if f.name != "avg_confidence"]
    counts = {name: int(value or 0) for name, value in zip(names, row[:13], strict=True)}
    avg = None if row[13] is None else round(float(row[13]), 4)
    return JobStatistics(**counts, avg_confidence=avg)
