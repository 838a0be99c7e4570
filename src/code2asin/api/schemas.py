"""Request and response bodies of the REST API (the seed's JSON shapes, documented in OpenAPI)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _utc(value: datetime) -> datetime:
    # SQLite returns the stored UTC times without their zone; say it so clients do not guess
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: a timestamp always sent with its zone (UTC)
Utc = Annotated[datetime, AfterValidator(_utc)]


class ErrorBody(BaseModel):
    code: str = Field(description="not_found, conflict, invalid_input, unauthenticated, forbidden, ...")
    message: str = Field(description="One sentence for a person.")
    details: list[dict[str, Any]] | None = None


class ErrorResponse(BaseModel):
    """The one error shape of every 4xx/5xx answer."""

    error: ErrorBody


class ImportOptions(BaseModel):
    """The ``options`` form field of ``POST /code2asin/import`` (a JSON object)."""

    model_config = ConfigDict(extra="forbid")

    download_images: bool = False
    max_images_per_product: int = Field(default=10, ge=1, le=50)
    image_mode: Literal["replace", "append", "skip"] = "replace"
    marketplace: str | None = Field(default=None, max_length=8)
    marketplaces: list[Annotated[str, Field(min_length=2, max_length=8)]] | None = Field(
        default=None,
        max_length=22,
        description="Several marketplaces (e.g. [\"FR\", \"DE\", \"IT\"]): one result per row on each.",
    )
    provider: str | None = Field(default=None, max_length=100, description="Provider plan, e.g. sandbox.")
    confidence_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    max_calls: int | None = Field(
        default=None, ge=1, description="Pause the job before a provider call past this many."
    )
    max_keepa_tokens: int | None = Field(
        default=None, ge=1, description="Pause the job before a Keepa call that would pass this many tokens."
    )
    title_search: bool = Field(
        default=False,
        description="Search rows whose code Amazon does not find by their title and brand (one call per such "
        "row); a match found so is fuzzy and listed for review.",
    )
    title_search_invalid: bool = Field(
        default=False,
        description="Also search by title the rows whose code is invalid but that carry a title.",
    )
    title_threshold: float = Field(
        default=0.70, ge=0.0, le=0.8, description="Score (0-0.80) a title match needs to be accepted."
    )


class StageCostOut(BaseModel):
    provider: str
    stage: str = Field(description="identify or enrich")
    operation: str
    bucket: str = Field(description="The quota the calls wait on.")
    items: int = Field(description="Codes or ASINs sent (those the lookup cache does not hold).")
    calls: int
    keepa_tokens: int


class JobEstimate(BaseModel):
    """What the job is expected to take and spend, from its plan, the quotas and the lookup cache."""

    codes: int = Field(description="Distinct valid codes to look up.")
    cached_codes: int
    calls: int
    keepa_tokens: int
    seconds: float = Field(description="Expected duration when the job was created.")
    bottleneck: str = Field(description="The quota that sets the pace.")
    buckets: dict[str, float] = Field(description="Seconds each quota is busy.")
    stages: list[StageCostOut]
    assumptions: list[str]
    remaining_seconds: float | None = Field(
        default=None, description="Time left now: the measured pace once there is one, else the estimate's."
    )


class ImportResponse(BaseModel):
    message: str
    id: str
    job_id: str
    status: str
    estimate: JobEstimate | None = None


class JobSummary(BaseModel):
    id: str
    supplier_code: str
    status: str
    total_codes: int
    successful_conversions: int
    failed_conversions: int
    created_at: Utc
    completed_at: Utc | None


class JobList(BaseModel):
    items: list[JobSummary]
    total: int
    page: int
    per_page: int


class JobStatisticsOut(BaseModel):
    total: int
    matched: int
    not_found: int
    invalid: int
    failed: int
    pending: int
    with_asin: int
    with_images: int
    with_price: int
    exact_matches: int
    partial_matches: int
    fuzzy_matches: int
    manual_matches: int
    avg_confidence: float | None
    needs_review: int = Field(
        default=0, description="Matched rows whose title or price disagrees with the supplier's: check them."
    )
    asin_differs: int = Field(
        default=0, description="Matched rows whose supplier ASIN differs from the ASIN found."
    )


class TimelineEvent(BaseModel):
    at: Utc
    event: str
    actor: str | None
    from_status: str | None
    to_status: str | None
    detail: dict[str, Any] | None


class PlanStage(BaseModel):
    provider: str
    stage: str = Field(description="identify, enrich or direct")
    role: str


class Availability(BaseModel):
    """Where the rows of a several-marketplace job were found."""

    rows: int
    marketplaces: list[str]
    on_every_marketplace: int
    on_some_marketplaces: int
    on_no_marketplace: int
    by_count: dict[str, int] = Field(description="Rows per number of marketplaces they were found on.")


class JobDetails(BaseModel):
    id: str
    supplier_code: str
    status: str
    mode: str
    marketplace: str
    marketplaces: list[str]
    provider_plan: str
    plan_stages: list[PlanStage]
    options: dict[str, Any]
    source_filename: str
    source_info: dict[str, Any]
    total_codes: int
    processed_codes: int
    successful_conversions: int
    failed_conversions: int
    progress_percent: float
    retry_count: int
    max_retries: int
    error_message: str | None
    created_by: str | None
    created_at: Utc
    started_at: Utc | None
    completed_at: Utc | None
    duration_seconds: float | None
    looked_up_codes: int = Field(description="Rows whose code has been looked up, running chunks included.")
    enriched_codes: int = Field(description="Rows whose candidates have been enriched, as looked_up_codes.")
    provider_calls: int = Field(description="Provider API calls the job has made.")
    keepa_tokens: int = Field(description="Keepa tokens the job has spent (one per code or ASIN sent).")
    estimate: JobEstimate | None
    statistics: JobStatisticsOut
    statistics_by_marketplace: dict[str, JobStatisticsOut]
    availability: Availability | None
    timeline: list[TimelineEvent]
    allowed_actions: list[str]


class ActionResponse(BaseModel):
    message: str
    job_id: str
    status: str


class RetryResponse(ActionResponse):
    retry_count: int
    max_retries: int


class DeleteResponse(BaseModel):
    message: str
    job_id: str


class StoredImage(BaseModel):
    key: str
    url: str | None


class CandidateOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    asin: str | None = None
    score: float | None = None
    match_type: str | None = None
    reasons: list[str] = Field(default_factory=list)


class ResultItem(BaseModel):
    id: int
    row: int
    marketplace: str
    product_ean: str | None
    input_code: str
    code_type: str | None
    asin: str | None
    amazon_title: str | None
    amazon_brand: str | None
    match_confidence: float | None
    match_type: str | None
    amazon_price: float | None
    amazon_currency: str | None
    amazon_rating: float | None
    amazon_review_count: int | None
    amazon_sales_rank: int | None
    amazon_images: list[str]
    stored_images: list[StoredImage]
    detail_page_url: str | None
    status: str
    error_type: str | None
    error_message: str | None
    candidates: list[CandidateOut]
    field_sources: dict[str, str] = Field(
        default_factory=dict,
        description="Which provider supplied each field, e.g. {\"amazon_rating\": \"keepa\"}.",
    )
    available_on: list[str] | None = Field(
        default=None, description="Several-marketplace jobs: the marketplaces this row was found on."
    )
    needs_review: bool = Field(default=False, description="A matched row a person should check.")
    review_flags: list[str] = Field(
        default_factory=list, description="Why: title, price and/or supplier_asin."
    )
    duplicate_of: int | None = Field(
        default=None, description="The earlier row with the same code (looked up once)."
    )


class ResultsPage(BaseModel):
    job_id: str
    job_status: str
    total: int
    with_asin: int
    with_images: int
    with_price: int
    exact_matches: int
    fuzzy_matches: int
    partial_matches: int
    manual_matches: int
    avg_confidence: float | None
    needs_review: int = 0
    asin_differs: int = 0
    filtered_total: int
    page: int
    limit: int
    marketplaces: list[str]
    items: list[ResultItem]


class ValidateRequest(BaseModel):
    asin: str = Field(min_length=1, max_length=50, description="The ASIN to set on the row.")


class LogItem(BaseModel):
    id: int
    timestamp: Utc
    level: str
    row: int | None
    input_code: str | None
    code_type: str | None
    previous_asin: str | None
    new_asin: str | None
    change_reason: str | None
    confidence_score: float | None
    processing_time_ms: int | None
    api_response: dict[str, Any] | None
    error_type: str | None
    message: str | None
    actor: str | None


class LogsPage(BaseModel):
    job_id: str
    items: list[LogItem]
    total: int
    page: int
    per_page: int


class PriceTrackingStatistics(BaseModel):
    """The price-tracking runs, counted apart from the conversion jobs."""

    runs: int
    runs_by_status: dict[str, int]
    total_codes: int
    processed_codes: int
    priced: int


class GlobalStatistics(BaseModel):
    """Conversion jobs only (price-tracking runs are in ``price_tracking``)."""

    total_jobs: int
    jobs_by_status: dict[str, int]
    total_codes: int
    processed_codes: int
    successful_conversions: int
    failed_conversions: int
    success_rate: float
    price_tracking: PriceTrackingStatistics


class ErrorClassStatistics(BaseModel):
    count: int
    percentage: float
    description: str


class ErrorBreakdown(BaseModel):
    network: ErrorClassStatistics
    api_rate_limit: ErrorClassStatistics
    invalid_data: ErrorClassStatistics
    unknown: ErrorClassStatistics


class ErrorStatistics(BaseModel):
    period_days: int
    total_errors: int
    error_breakdown: ErrorBreakdown
    retry_backoff_schedule: list[int]


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    status: str
    database: str
    migration: str | None


DecisionValue = Literal["accepted", "rejected"]


class MatchDecisionOut(BaseModel):
    """A person's accept or reject of an ASIN for one supplier's code, applied to its later jobs."""

    id: int
    supplier_code: str
    code_key: str = Field(description="The code's GTIN-14, or raw:<code> for a code that is not valid.")
    asin: str
    decision: DecisionValue
    actor: str | None
    decided_at: Utc
    job_id: str | None = Field(description="The job the decision was made on (it may be deleted since).")
    row_no: int | None
    input_code: str | None
    supplier_title: str | None
    amazon_title: str | None


class MatchDecisionList(BaseModel):
    items: list[MatchDecisionOut]
    total: int
    page: int
    per_page: int
    pages: int


class MatchDecisionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: DecisionValue = Field(
        description="accepted or rejected (accepting rejects the code's other accepted ASIN)"
    )


class MatchDecisionDeleted(BaseModel):
    message: str
    id: int
