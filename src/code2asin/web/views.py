"""Reads the web pages need that the services do not offer (yet): each is one small query or pure step.

* ``principal_for_user``: the session's user as a ``Principal`` (None when gone or deactivated), so a
  permission change or a deactivation takes effect on the next page, not at the next sign-in.
* ``search_jobs``: the job list with a supplier search and the progress counters.
* ``stored_image_key``: one stored image of one row on one marketplace, for the thumbnail route.
* ``preview_table``: the ``check`` logic (``open_table`` + ``parse_code``) summarised for the import
  preview: detected columns, counts, the first invalid rows and the first data rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from code2asin import barcodes
from code2asin.accounts.models import User
from code2asin.accounts.service import Principal, parse_permissions
from code2asin.ingest_table import InputTable
from code2asin.jobs.models import Job, JobItem, JobStatus

PREVIEW_INVALID_ROWS = 20
PREVIEW_SAMPLE_ROWS = 5


def principal_for_user(session: Session, user_id: str) -> Principal | None:
    """The active user ``user_id`` as a principal, or None."""
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        return None
    return Principal(
        kind="user",
        id=user.id,
        name=user.username,
        permissions=parse_permissions(user.permissions or []),
        suppliers=frozenset(user.suppliers or ()),
    )


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


#: the job list's sortable columns
JOB_SORTS = ("supplier", "status", "codes", "matched", "created")
_JOB_COLUMNS: dict[str, Any] = {
    "supplier": func.lower(Job.supplier_code),
    "status": Job.status,
    "codes": Job.total_codes,
    "matched": Job.successful_conversions,
    "created": Job.created_at,
}


def _job_order(key: str, descending: bool) -> list[Any]:
    column = _JOB_COLUMNS.get(key, Job.created_at)
    first = column.desc() if descending else column.asc()
    # ties: newest first, then the id, so a page never shows a job twice
    return [first, Job.created_at.desc(), Job.id]


def search_jobs(
    session: Session,
    *,
    page: int,
    per_page: int,
    status: JobStatus | None,
    supplier: str,
    suppliers: frozenset[str] | None,
    order: tuple[str, bool] = ("created", True),
) -> dict[str, Any]:
    """Jobs newest first (or by ``order``: one of ``JOB_SORTS`` and whether descending), filtered by status
    and by a case-insensitive part of the supplier code."""
    where: list[ColumnElement[bool]] = []
    if suppliers is not None:
        where.append(Job.supplier_code.in_(sorted(suppliers)))
    if status is not None:
        where.append(Job.status == status)
    if supplier.strip():
        pattern = f"%{_like_escaped(supplier.strip().lower())}%"
        where.append(func.lower(Job.supplier_code).like(pattern, escape="\\"))
    total = session.scalar(select(func.count(Job.id)).where(*where)) or 0
    jobs = session.scalars(
        select(Job)
        .where(*where)
        .order_by(*_job_order(*order))
        .offset((max(page, 1) - 1) * per_page)
        .limit(per_page)
    )
    items = [
        {
            "id": job.id,
            "supplier_code": job.supplier_code,
            "source_filename": job.source_filename,
            "status": job.status,
            "mode": job.mode,
            "total_codes": job.total_codes,
            "processed_codes": job.processed_codes,
            "successful_conversions": job.successful_conversions,
            "progress_percent": round(job.processed_codes / job.total_codes * 100, 1)
            if job.total_codes
            else 0.0,
            "created_at": job.created_at,
        }
        for job in jobs
    ]
    return {"items": items, "total": total, "page": page, "per_page": per_page}


def stored_image_key(
    session: Session, job_id: str, row_no: int, index: int, marketplace: str | None = None
) -> str | None:
    """The ``index``-th stored image key of row ``row_no`` of the job on ``marketplace``, or None.

    A job on several marketplaces has one item per row and marketplace; without ``marketplace`` the job's
    first marketplace (``jobs.marketplace``) is meant, so the answer is never ambiguous.
    """
    market = (
        marketplace
        if marketplace is not None
        else select(Job.marketplace).where(Job.id == job_id).scalar_subquery()
    )
    keys = session.scalar(
        select(JobItem.stored_images).where(
            JobItem.job_id == job_id, JobItem.row_no == row_no, JobItem.marketplace == market
        )
    )
    if not keys or not 0 <= index < len(keys):
        return None
    key = keys[index]
    return key if isinstance(key, str) else None


@dataclass
class Preview:
    """What the import preview shows before a job is created."""

    file_format: str
    sheet: str | None
    encoding: str | None
    delimiter: str | None
    header_row: int | None
    headers: list[str]
    #: role (code, title, price, sku, asin) -> header text, for the roles found
    columns: dict[str, str]
    total: int = 0
    valid: int = 0
    invalid_rows: list[tuple[int, str, str]] = field(default_factory=list)
    sample_rows: list[tuple[str, ...]] = field(default_factory=list)
    #: the distinct valid codes (GTIN-14), which the estimate counts
    gtins: set[str] = field(default_factory=set)
    #: the distinct valid codes of rows with a title (the title search's reach)
    titled_gtins: set[str] = field(default_factory=set)
    #: rows with an invalid code but a title (the title search can look for them when asked)
    titled_invalid: int = 0

    @property
    def invalid(self) -> int:
        return self.total - self.valid

    @property
    def has_asin_column(self) -> bool:
        return "asin" in self.columns


def _header(headers: list[str], index: int) -> str:
    return (headers[index] if index < len(headers) else "") or f"#{index + 1}"


def preview_table(table: InputTable) -> Preview:
    """Read every row once (raises ``IngestError`` like ``check``) and summarise it."""
    cols = table.columns
    roles = {"code": cols.code, "title": cols.title, "brand": cols.brand, "price": cols.price,
             "sku": cols.sku, "asin": cols.asin}
    preview = Preview(
        file_format=table.file_format,
        sheet=table.sheet_name,
        encoding=table.encoding,
        delimiter=table.delimiter,
        header_row=None if table.header_row is None else table.header_row + 1,
        headers=list(table.headers),
        columns={role: _header(table.headers, i) for role, i in roles.items() if i is not None},
    )
    for row in table.rows():
        preview.total += 1
        if len(preview.sample_rows) < PREVIEW_SAMPLE_ROWS:
            preview.sample_rows.append(row.values)
        parsed = barcodes.parse_code(row.code_value)
        if parsed.valid:
            preview.valid += 1
            if parsed.gtin:
                preview.gtins.add(parsed.gtin)
                if row.title:
                    preview.titled_gtins.add(parsed.gtin)
        else:
            preview.titled_invalid += bool(row.title)
            if len(preview.invalid_rows) < PREVIEW_INVALID_ROWS:
                preview.invalid_rows.append((row.row_no, parsed.raw, parsed.message or ""))
    return preview
