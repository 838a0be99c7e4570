"""The new-import form: fields, a preview of the file (the ``check`` logic), then create (and start).

Step 1 (``POST /code2asin/ui/import``, multipart) checks the fields, stores the upload where the job will
keep it (``uploads/<uuid>/<name>``, as the API does) and shows the detected columns and invalid rows.
Step 2 (``POST /code2asin/ui/import/create``) receives the same options plus a signed, expiring,
user-bound reference to the stored upload, and creates the job (and starts it when asked).

Marketplaces: ``marketplace`` (a select) is the job's first marketplace; the ``marketplaces`` checkboxes
add more (a job on several marketplaces, issue #8). A form that sends ``marketplace`` alone, as before,
makes a one-marketplace job.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from code2asin.accounts.models import Permission
from code2asin.errors import Code2AsinError, ConfigurationError, IngestError
from code2asin.ingest import open_table
from code2asin.ingest_table import IngestLimits
from code2asin.jobs import creation, service
from code2asin.jobs.cache import LookupCacheStore
from code2asin.jobs.estimate import Estimate, cache_namer, estimate, quotas_for, record_estimate
from code2asin.jobs.models import JobMode
from code2asin.providers.marketplaces import MARKETPLACES, get_marketplace
from code2asin.providers.stages import parse_plan
from code2asin.storage import Storage
from code2asin.web.core import UI, Page, Redirect, WebError, current_page, form_file, form_text
from code2asin.web.views import Preview, preview_table

PageDep = Annotated[Page, Depends(current_page)]
PREVIEW_MAX_AGE = 3600
IMAGE_MODES = ("replace", "append", "skip")
PLAN_SUGGESTIONS = ("sandbox", "spapi+creators", "spapi", "creators", "keepa")
_COPY_CHUNK = 1024 * 1024


@dataclass
class ImportForm:
    supplier_code: str = ""
    mode: str = "amazon"
    provider_plan: str = "sandbox"
    marketplace: str = "FR"
    #: the other marketplaces ticked (``marketplaces`` checkboxes), in the order of the list
    also_on: list[str] = field(default_factory=list)
    download_images: bool = False
    max_images_per_product: str = "10"
    image_mode: str = "replace"
    #: caps, as typed (empty: none)
    max_calls: str = ""
    max_keepa_tokens: str = ""
    #: the title and brand search for codes not found: on unless the form unticks it
    title_search: bool = True
    title_search_invalid: bool = False
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, page: Page) -> ImportForm:
        return cls(
            supplier_code=form_text(page, "supplier_code").strip()[:200],
            mode="direct" if form_text(page, "mode") == "direct" else "amazon",
            provider_plan=form_text(page, "provider_plan").strip()[:100],
            marketplace=form_text(page, "marketplace").strip().upper()[:8],
            also_on=_form_list(page, "marketplaces"),
            download_images=form_text(page, "download_images") == "true",
            max_images_per_product=form_text(page, "max_images_per_product").strip()[:10],
            image_mode=form_text(page, "image_mode"),
            max_calls=form_text(page, "max_calls").strip()[:12],
            max_keepa_tokens=form_text(page, "max_keepa_tokens").strip()[:12],
            title_search=form_text(page, "title_search") == "true",
            title_search_invalid=form_text(page, "title_search_invalid") == "true",
        )

    def check(self, page: Page) -> None:
        """Fill ``errors`` (field -> sentence) for what cannot be used."""
        assert page.principal is not None
        t = page.t
        if not self.supplier_code or len(self.supplier_code) > 100:
            self.errors["supplier_code"] = t("import.error.supplier")
        elif not page.principal.can_see(self.supplier_code):
            self.errors["supplier_code"] = t("import.error.supplier_scope")
        try:
            self.marketplace = get_marketplace(self.marketplace).code
        except (ValueError, ConfigurationError) as exc:
            self.errors["marketplace"] = str(exc)
        known: list[str] = []
        for code in self.also_on:
            try:
                known.append(get_marketplace(code).code)
            except (ValueError, ConfigurationError) as exc:
                self.errors["marketplaces"] = str(exc)
                break
        self.also_on = [code for code in dict.fromkeys(known) if code != self.marketplace]
        if self.mode == "direct" and self.also_on and "marketplaces" not in self.errors:
            self.errors["marketplaces"] = t("import.error.direct_marketplaces")
        if self.mode == "amazon":
            try:
                parse_plan(self.provider_plan)
            except ConfigurationError as exc:
                self.errors["provider_plan"] = str(exc)
        if not self.max_images_per_product.isdigit() or not 1 <= int(self.max_images_per_product) <= 50:
            self.errors["max_images_per_product"] = t("import.error.max_images")
        if self.image_mode not in IMAGE_MODES:
            self.image_mode = "replace"
        for name in ("max_calls", "max_keepa_tokens"):
            value = getattr(self, name).replace(" ", "").replace("\u202f", "").replace(",", "")
            setattr(self, name, value)
            if value and (not value.isdigit() or int(value) < 1):
                self.errors[name] = t("import.error.cap")

    def cap(self, name: str) -> int | None:
        value = getattr(self, name)
        return int(value) if value.isdigit() and int(value) >= 1 else None

    @property
    def marketplace_list(self) -> list[str]:
        """The job's marketplaces: the chosen one first, then the others ticked."""
        return [self.marketplace, *self.also_on]

    def new_job(self, page: Page, filename: str, key: str) -> creation.NewJob:
        assert page.principal is not None
        return creation.NewJob(
            supplier_code=self.supplier_code,
            mode=JobMode.DIRECT if self.mode == "direct" else JobMode.AMAZON,
            marketplace=self.marketplace,
            marketplaces=self.marketplace_list,
            provider_plan=self.provider_plan,
            source_filename=filename[:500],
            source_key=key,
            options=creation.JobOptions(
                download_images=self.download_images,
                max_images_per_product=int(self.max_images_per_product),
                image_mode=self.image_mode,
                confidence_threshold=page.web.settings.confidence_threshold,
                max_calls=self.cap("max_calls"),
                max_keepa_tokens=self.cap("max_keepa_tokens"),
                title_search=self.title_search and self.mode == "amazon",
                title_search_invalid=self.title_search_invalid and self.mode == "amazon",
            ),
            actor=page.principal.actor,
        )


def _form_list(page: Page, name: str) -> list[str]:
    """Every text value of a repeated form field (checkboxes), upper-cased, at most 50."""
    values = page.form.getlist(name) if page.form is not None else []
    return [v.strip().upper()[:8] for v in values[:50] if isinstance(v, str) and v.strip()]


def _limits(page: Page) -> IngestLimits:
    s = page.web.settings
    return IngestLimits(max_bytes=s.max_upload_bytes, max_rows=s.max_rows, max_columns=s.max_columns)


def _safe_name(name: str) -> str:
    base = Path(name.replace("\\", "/")).name
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in base).strip("._")[:100]
    return cleaned or "upload"


def _choices() -> dict[str, Any]:
    return {
        "marketplaces": sorted(MARKETPLACES),
        "marketplace_hosts": {code: m.host for code, m in MARKETPLACES.items()},
        "plans": PLAN_SUGGESTIONS,
        "image_modes": IMAGE_MODES,
    }


def _render_form(page: Page, form: ImportForm, status: int = 200) -> Response:
    return page.render("import.html", status_code=status, form=form, **_choices())


def import_form(page: PageDep) -> Response:
    page.require(Permission.WRITE)
    settings = page.web.settings
    return _render_form(page, ImportForm(provider_plan=settings.provider, marketplace=settings.marketplace))


def _copy_limited(source: BinaryIO, target: Path, limit: int) -> None:
    size = 0
    with target.open("wb") as out:
        while chunk := source.read(_COPY_CHUNK):
            size += len(chunk)
            if size > limit:
                raise WebError(413, "error.too_large")
            out.write(chunk)


@contextmanager
def _local_copy(storage: Storage, key: str) -> Iterator[Path]:
    """A path to the stored upload: the file itself on local storage, else a temporary copy."""
    local_path = getattr(storage, "local_path", None)
    if local_path is not None:
        yield Path(local_path(key))
        return
    with tempfile.TemporaryDirectory(prefix="code2asin-web-") as folder:
        path = Path(folder) / Path(key).name
        path.write_bytes(storage.get(key))
        yield path


def preview(page: PageDep) -> Response:
    principal = page.require(Permission.WRITE)
    form = ImportForm.read(page)
    form.check(page)
    upload = form_file(page, "file")
    if upload is None:
        form.errors["file"] = page.t("import.error.file")
    if form.errors or upload is None:
        return _render_form(page, form, status=422)
    filename = upload.filename or "upload"
    name = _safe_name(filename)
    key = f"uploads/{uuid.uuid4()}/{name}"
    storage = page.web.storage
    with tempfile.TemporaryDirectory(prefix="code2asin-web-upload-") as folder:
        path = Path(folder) / name
        _copy_limited(upload.file, path, page.web.settings.max_upload_bytes)
        try:
            summary = preview_table(open_table(path, limits=_limits(page)))
        except IngestError as exc:
            form.errors["file"] = str(exc)
            return _render_form(page, form, status=422)
        if form.mode == "direct" and not summary.has_asin_column:
            form.errors["mode"] = (
                f"Direct mode needs an ASIN column next to the codes, and {filename} has none."
            )
            return _render_form(page, form, status=422)
        with path.open("rb") as handle:
            storage.put_file(key, handle, "application/octet-stream")
    token = page.web.codec.sign({"key": key, "name": filename[:500], "user": principal.id})
    expected = _estimate(page, form, summary) if form.mode == "amazon" else None
    return page.render(
        "preview.html",
        form=form,
        preview=summary,
        filename=filename,
        upload=token,
        estimate=expected.as_dict() if expected is not None else None,
        **_choices(),
    )


def _estimate(page: Page, form: ImportForm, summary: Preview) -> Estimate:
    """What the file will cost on the form's plan and marketplaces, the lookup cache counted."""
    settings = page.web.settings
    name = cache_namer(settings, form.provider_plan)
    cache = LookupCacheStore(page.web.db, settings.cache_ttl_seconds, settings.price_cache_ttl_seconds)
    identify = parse_plan(form.provider_plan)[0]
    gtins = summary.gtins
    keys = [f"gtin:{g}" for g in gtins]
    cached = sum(len(cache.get(name(identify), market, keys)) for market in form.marketplace_list)
    codes = len(gtins) * len(form.marketplace_list)
    quotas = quotas_for(settings, form.provider_plan, form.marketplace)
    markets = len(form.marketplace_list)
    titled = len(summary.titled_gtins) * markets if form.title_search else None
    invalid = summary.titled_invalid * markets if form.title_search_invalid else 0
    return estimate(form.provider_plan, quotas, codes=codes, cached_codes=cached, titled_codes=titled,
                    titled_invalid=invalid)


def create(page: PageDep) -> Response:
    principal = page.require(Permission.WRITE)
    form = ImportForm.read(page)
    form.check(page)
    signed = page.web.codec.unsign(form_text(page, "upload"), PREVIEW_MAX_AGE)
    if signed is None or signed.get("user") != principal.id or not isinstance(signed.get("key"), str):
        form.errors["file"] = page.t("import.error.expired")
    if form.errors or signed is None:
        return _render_form(page, form, status=422)
    key, filename = str(signed["key"]), str(signed.get("name") or "upload")
    storage = page.web.storage
    try:
        with _local_copy(storage, key) as path:
            table = open_table(path, limits=_limits(page))
            job_id = creation.create_job(page.web.db, table, form.new_job(page, filename, key))
        record_estimate(page.web.db, job_id, page.web.settings)
    except FileNotFoundError:
        form.errors["file"] = page.t("import.error.expired")
        return _render_form(page, form, status=422)
    except Code2AsinError as exc:
        form.errors["file"] = str(exc)
        return _render_form(page, form, status=422)
    if form_text(page, "start") == "1":
        with page.web.db.unit_of_work() as session:
            dispatch = service.start_job(session, job_id, principal.actor).dispatch
        if dispatch:
            page.web.dispatcher.dispatch(job_id)
        page.flash("success", page.t("action.done.start"))
    else:
        page.flash("success", page.t("action.done.created"))
    raise Redirect(page.url(f"/code2asin/{job_id}/details"))


def install(router: APIRouter) -> None:
    router.add_api_route(f"{UI}/import", import_form, methods=["GET"])
    router.add_api_route(f"{UI}/import", preview, methods=["POST"])
    router.add_api_route(f"{UI}/import/create", create, methods=["POST"])
