"""``POST /code2asin/import``: a file becomes a pending job, through the same ingest as the CLI."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, UploadFile
from pydantic import ValidationError

from code2asin.accounts.service import PermissionDeniedError
from code2asin.api import schemas
from code2asin.api.deps import CurrentPrincipal, StateDep, authorize
from code2asin.api.errors import ERROR_RESPONSES
from code2asin.api.uploads import copy_limited, sanitise_filename
from code2asin.config import Settings
from code2asin.errors import ConfigurationError, InvalidValueError
from code2asin.ingest import open_table
from code2asin.ingest_table import IngestLimits
from code2asin.jobs import creation
from code2asin.jobs.estimate import record_estimate
from code2asin.jobs.models import JobMode

router = APIRouter(prefix="/code2asin", dependencies=[Depends(authorize)], responses=ERROR_RESPONSES)

CONTENT_TYPES = {
    "csv": "text/csv",
    "txt": "text/plain",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "xlsm": "application/vnd.ms-excel.sheet.macroEnabled.12",
    "xls": "application/vnd.ms-excel",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
}


def parse_options(raw: str | None) -> schemas.ImportOptions:
    """The ``options`` form field (JSON object) -> options; raises ``InvalidValueError`` (422)."""
    if raw is None or not raw.strip():
        return schemas.ImportOptions()
    try:
        return schemas.ImportOptions.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "options"
        raise InvalidValueError(f"Invalid options: {where}: {first['msg']}.") from None


def _new_job(
    settings: Settings, supplier_code: str, amazon: bool, options: schemas.ImportOptions, actor: str
) -> creation.NewJob:
    from code2asin.providers.marketplaces import get_marketplace
    from code2asin.providers.stages import parse_plan

    asked = options.marketplaces or [options.marketplace or settings.marketplace]
    plan = options.provider or settings.provider
    try:
        marketplaces = list(dict.fromkeys(get_marketplace(code).code for code in asked))
        if amazon:
            parse_plan(plan)
    except (ValueError, ConfigurationError) as exc:
        raise InvalidValueError(str(exc)) from None
    threshold = options.confidence_threshold
    return creation.NewJob(
        supplier_code=supplier_code,
        mode=JobMode.AMAZON if amazon else JobMode.DIRECT,
        marketplace=marketplaces[0],
        marketplaces=marketplaces,
        provider_plan=plan,
        source_filename="",
        options=creation.JobOptions(
            download_images=options.download_images,
            max_images_per_product=options.max_images_per_product,
            image_mode=options.image_mode,
            confidence_threshold=settings.confidence_threshold if threshold is None else threshold,
            max_calls=options.max_calls,
            max_keepa_tokens=options.max_keepa_tokens,
            title_search=options.title_search,
            title_search_invalid=options.title_search_invalid,
            title_threshold=options.title_threshold,
        ),
        actor=actor,
    )


@router.post(
    "/import", response_model=schemas.ImportResponse, status_code=201, summary="Create a job from a file"
)
def import_file(
    state: StateDep,
    principal: CurrentPrincipal,
    supplier_code: Annotated[str, Form(min_length=1, max_length=100)],
    file: Annotated[UploadFile, Form(description="CSV, TXT, XLSX, XLSM, XLS or ODS file")],
    use_amazon_api: Annotated[
        bool, Form(description="true: look codes up; false: import EAN,ASIN pairs")
    ] = True,
    options: Annotated[str | None, Form(description="JSON object, see ImportOptions")] = None,
) -> dict[str, Any]:
    """Store the upload, read it with the CLI's ingest and create a pending job (start it separately)."""
    supplier_code = supplier_code.strip()
    if not supplier_code:
        raise InvalidValueError("supplier_code is empty.")
    if not principal.can_see(supplier_code):
        raise PermissionDeniedError(f"This token may not create jobs for supplier {supplier_code}.")
    settings = state.settings
    new = _new_job(settings, supplier_code, use_amazon_api, parse_options(options), principal.actor)
    name = sanitise_filename(file.filename)
    limits = IngestLimits(
        max_bytes=settings.max_upload_bytes, max_rows=settings.max_rows, max_columns=settings.max_columns
    )
    with tempfile.TemporaryDirectory(prefix="code2asin-upload-") as folder:
        path = Path(folder) / name
        copy_limited(file.file, path, settings.max_upload_bytes)
        table = open_table(path, limits=limits)  # the type comes from the content, not the name
        key = f"uploads/{uuid.uuid4()}/{name}"
        storage = state.storage
        with path.open("rb") as handle:
            storage.put_file(key, handle, CONTENT_TYPES.get(table.file_format, "application/octet-stream"))
        new.source_filename = (file.filename or name)[:500]
        new.source_key = key
        try:
            job_id = creation.create_job(state.db, table, new)
        except BaseException:
            storage.delete(key)
            raise
    estimated = record_estimate(state.db, job_id, settings)
    return {
        "message": "Job Code2ASIN cree avec succes",
        "id": job_id,
        "job_id": job_id,
        "status": "pending",
        "estimate": estimated.as_dict() if estimated is not None else None,
    }
