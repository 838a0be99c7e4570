"""Creating a job from an input table: its options, its items (one per row and marketplace), its chunks.

A 200,000-row job is written in batches of ``INSERT_BATCH`` through a ``Database`` so memory stays bounded;
direct mode's rows are final at once, Amazon mode's wait in chunks of ``CHUNK_SIZE`` rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from code2asin import barcodes
from code2asin.db import Database
from code2asin.errors import ErrorType, IngestError, InvalidValueError
from code2asin.ingest_table import InputRow, InputTable
from code2asin.jobs.models import (
    ChunkStatus,
    ItemStatus,
    Job,
    JobChunk,
    JobEvent,
    JobItem,
    JobMode,
    JobStatus,
)

CHUNK_SIZE = 100
INSERT_BATCH = 5000


@dataclass(frozen=True, slots=True)
class JobOptions:
    """Per-job options (the seed's import options plus marketplace, plan and threshold)."""

    download_images: bool = False
    max_images_per_product: int = 10
    image_mode: str = "replace"
    confidence_threshold: float = 0.5
    #: caps: the job pauses, with its reason, before a call past them (None: no cap)
    max_calls: int | None = None
    max_keepa_tokens: int | None = None
    #: the title and brand search for rows whose code found nothing (``jobs.title_stage``), and the score
    #: a title match needs (``title_match``)
    title_search: bool = False
    title_threshold: float = 0.70
    #: also search rows whose code is invalid but that carry a title (they end ``invalid`` when not found)
    title_search_invalid: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class NewJob:
    supplier_code: str
    mode: JobMode
    marketplace: str
    provider_plan: str
    source_filename: str
    options: JobOptions = field(default_factory=JobOptions)
    source_key: str | None = None
    actor: str | None = None
    #: a job on several marketplaces lists them all here (``marketplace`` is then the first)
    marketplaces: Sequence[str] = ()

    def marketplace_list(self) -> list[str]:
        """The job's marketplaces in order, without repeats (``marketplace`` alone when none listed)."""
        return list(dict.fromkeys(m.upper() for m in (self.marketplaces or [self.marketplace])))


ProgressCallback = Callable[[int], None]


def _item_from_row(
    job_id: str, row: InputRow, mode: JobMode, title_search_invalid: bool = False
) -> dict[str, Any]:
    parsed = barcodes.parse_code(row.code_value)
    item: dict[str, Any] = {
        "job_id": job_id,
        "row_no": row.row_no,
        "marketplace": None,  # set per marketplace by ``create_job``
        "chunk_no": (row.row_no - 1) // CHUNK_SIZE,
        "field_sources": None,
        "input_code": parsed.raw,
        "code_type": parsed.code_type.value if parsed.code_type else None,
        "gtin": parsed.gtin,
        "product_ean": parsed.product_ean,
        "status": ItemStatus.PENDING,
        "asin": None,
        "match_type": None,
        "match_confidence": None,
        "supplier_title": row.title,
        "supplier_price": row.price,
        "supplier_sku": row.sku,
        "supplier_brand": row.brand[:500] if row.brand else None,
        "input_asin": row.asin,
        "input_values": list(row.cells),
        "error_type": None,
        "error_message": parsed.message,
        "review_flags": None,
        "duplicate_of": None,
        "attempts": 0,
    }
    if not parsed.valid:
        if not (title_search_invalid and row.title and mode is JobMode.AMAZON):
            item["status"] = ItemStatus.INVALID
            item["error_type"] = ErrorType.INVALID_DATA
        return item  # (kept pending: the title search looks for it, see ``jobs.title_stage``)
    if mode is JobMode.DIRECT:
        asin = barcodes.normalise_asin(row.asin) if row.asin else None
        if asin is None:
            item["status"] = ItemStatus.INVALID
            item["error_type"] = ErrorType.INVALID_DATA
            shown = (row.asin or "").strip()
            item["error_message"] = (
                "No ASIN on this row: direct mode needs an ASIN next to each code."
                if not shown
                else f"ASIN {shown!r} is not valid: an ASIN has 10 characters, B0 followed by 8 letters or "
                f"digits, or an ISBN-10 for books."
            )
        else:
            item["status"] = ItemStatus.MATCHED
            item["asin"] = asin
            item["match_type"] = "manual"
            item["match_confidence"] = 1.0
    return item


def _mark_duplicate(item: dict[str, Any], first_rows: dict[str, int]) -> None:
    """Set ``duplicate_of`` on a row whose code an earlier row of the file already had."""
    if item["gtin"] is not None:
        first = first_rows.setdefault(item["gtin"], item["row_no"])
        item["duplicate_of"] = first if first != item["row_no"] else None


def _checked_marketplaces(table: InputTable, new: NewJob) -> list[str]:
    """The new job's marketplaces, once its mode and file are known to fit (else a one-sentence error)."""
    marketplaces = new.marketplace_list()
    if new.mode is JobMode.DIRECT and len(marketplaces) > 1:
        raise InvalidValueError(
            "Direct mode imports the ASINs of one marketplace: choose one marketplace, not "
            f"{', '.join(marketplaces)}."
        )
    if new.mode is JobMode.DIRECT and table.columns.asin is None:
        raise IngestError(
            f"Direct mode needs an ASIN column next to the codes, and {table.path.name} has none: "
            f"the headers "
            f"are {', '.join(repr(h) for h in table.headers)}."
        )
    return marketplaces


def _insert_job(db: Database, table: InputTable, new: NewJob, marketplaces: list[str]) -> str:
    """The job's own row and its "created" event; returns its id."""
    with db.unit_of_work() as session:
        job = Job(
            supplier_code=new.supplier_code,
            status=JobStatus.PENDING,
            mode=new.mode,
            marketplace=marketplaces[0],
            marketplaces=marketplaces if len(marketplaces) > 1 else None,
            provider_plan=new.provider_plan if new.mode is JobMode.AMAZON else "direct",
            options=new.options.as_dict(),
            source_filename=new.source_filename,
            source_key=new.source_key,
            source_info=table_info(table),
            created_by=new.actor,
        )
        session.add(job)
        session.flush()
        job_id = job.id
        session.add(JobEvent(job_id=job_id, event="created", actor=new.actor, to_status=JobStatus.PENDING))
    return job_id


def create_job(
    db: Database, table: InputTable, new: NewJob, on_progress: ProgressCallback | None = None
) -> str:
    """Create a job and one item per input data row; returns the job id.

    Rows are parsed and written in batches of ``INSERT_BATCH``. In direct mode each row's result is final
    at once (conflicting pairs for one code are flagged on every row involved). In Amazon mode valid rows
    wait in ``pending`` and are grouped in chunks of ``CHUNK_SIZE`` rows.

    A job on several marketplaces gets one item per row and marketplace; chunk ``n * M + k`` holds rows
    ``n*100+1 .. (n+1)*100`` on the ``k``-th of its ``M`` marketplaces, so the marketplaces of a row are
    looked up side by side and the first rows are complete early.
    """
    marketplaces = _checked_marketplaces(table, new)
    job_id = _insert_job(db, table, new, marketplaces)

    total = ended = matched = 0
    pending_chunks: set[int] = set()
    asins_by_gtin: dict[str, set[str]] = {}
    batch: list[dict[str, Any]] = []
    table_items = JobItem.table()
    per_row = len(marketplaces)
    first_rows: dict[str, int] = {}  # a code's first row: its repeats say which row they repeat
    try:
        for row in table.rows():
            item = _item_from_row(job_id, row, new.mode, new.options.title_search_invalid)
            _mark_duplicate(item, first_rows)
            if item["status"] == ItemStatus.PENDING:
                pending_chunks.update(item["chunk_no"] * per_row + k for k in range(per_row))
            else:
                ended += per_row
                matched += per_row * (item["status"] == ItemStatus.MATCHED)
                if new.mode is JobMode.DIRECT and item["asin"]:
                    asins_by_gtin.setdefault(item["gtin"], set()).add(item["asin"])
            for k, marketplace in enumerate(marketplaces):
                one = item if k == per_row - 1 else dict(item)
                one["marketplace"] = marketplace
                one["chunk_no"] = item["chunk_no"] * per_row + k
                batch.append(one)
            total += per_row
            if len(batch) >= INSERT_BATCH:
                with db.unit_of_work() as session:
                    session.execute(table_items.insert(), batch)
                batch = []
                if on_progress:
                    on_progress(total)
        if batch:
            with db.unit_of_work() as session:
                session.execute(table_items.insert(), batch)
        if not total:
            raise IngestError(
                f"{new.source_filename} has a header row but no data row: there is nothing to convert."
            )
    except Exception:
        with db.unit_of_work() as session:
            session.execute(Job.table().delete().where(Job.table().c.id == job_id))
        raise
    if on_progress:
        on_progress(total)

    with db.unit_of_work() as session:
        conflicts = {g: a for g, a in asins_by_gtin.items() if len(a) > 1}
        if conflicts:
            matched -= _flag_direct_conflicts(session, job_id, conflicts)
        insert_chunks(session, job_id, pending_chunks, marketplaces)
        session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(
                total_codes=total,
                processed_codes=ended,
                successful_conversions=matched,
                failed_conversions=ended - matched,
            )
        )
    return job_id


def insert_chunks(
    session: Session, job_id: str, chunk_numbers: Iterable[int], marketplaces: Sequence[str]
) -> None:
    """Create the pending chunks ``chunk_numbers`` of a job on ``marketplaces`` (see ``create_job``):
    chunk ``c`` holds rows ``n*100+1 .. (n+1)*100`` on marketplace ``k`` where ``c = n * M + k``."""
    per_row = len(marketplaces)
    rows = [
        {
            "job_id": job_id,
            "chunk_no": c,
            "marketplace": marketplaces[c % per_row],
            "first_row": (c // per_row) * CHUNK_SIZE + 1,
            "last_row": (c // per_row + 1) * CHUNK_SIZE,
            "status": ChunkStatus.PENDING,
            "attempts": 0,
        }
        for c in sorted(set(chunk_numbers))
    ]
    if rows:
        session.execute(JobChunk.table().insert(), rows)


def _flag_direct_conflicts(session: Session, job_id: str, conflicts: dict[str, set[str]]) -> int:
    """Turn every row of a conflicting (code, ASIN) pair into ``invalid``; returns how many rows."""
    rows = session.execute(
        select(JobItem.id, JobItem.gtin, JobItem.row_no, JobItem.asin)
        .where(
            JobItem.job_id == job_id, JobItem.gtin.in_(list(conflicts)), JobItem.status == ItemStatus.MATCHED
        )
        .order_by(JobItem.row_no)
    ).all()
    by_gtin: dict[str | None, list[tuple[int, str | None]]] = {}
    for _id, gtin, row_no, asin in rows:
        by_gtin.setdefault(gtin, []).append((row_no, asin))
    updates = []
    for item_id, gtin, _row_no, _asin in rows:
        pairs = "; ".join(f"row {r}: {a}" for r, a in by_gtin[gtin])
        updates.append(
            {
                "id": item_id,
                "status": ItemStatus.INVALID,
                "asin": None,
                "match_type": None,
                "match_confidence": None,
                "error_type": ErrorType.INVALID_DATA,
                "error_message": f"Conflicting ASINs for this code ({pairs}): keep one pair and import "
                "again.",
            }
        )
    session.execute(update(JobItem), updates)
    return len(updates)


def table_info(table: InputTable) -> dict[str, Any]:
    columns = table.columns
    return {
        "format": table.file_format,
        "sheet": table.sheet_name,
        "encoding": table.encoding,
        "delimiter": table.delimiter,
        "header_row": table.header_row,
        "headers": list(table.headers),
        "columns": {
            "code": columns.code,
            "title": columns.title,
            "price": columns.price,
            "sku": columns.sku,
            "asin": columns.asin,
            "brand": columns.brand,
        },
    }

