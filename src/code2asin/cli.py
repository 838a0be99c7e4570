"""The ``code2asin`` command line (design section 8).

Fatal errors print one sentence on standard error and exit non-zero; progress goes to standard error,
results and tiles to standard output.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from code2asin import barcodes
from code2asin.cli_health import healthcheck
from code2asin.cli_pricing import track_app
from code2asin.cli_service import serve, token_app, user_app
from code2asin.cli_worker import beat as beat_command
from code2asin.cli_worker import worker as worker_command
from code2asin.config import Settings, SettingsError, load_settings, unknown_variables
from code2asin.errors import Code2AsinError
from code2asin.export import results_filename, write_results
from code2asin.ingest import open_table
from code2asin.ingest_table import IngestLimits, InputTable
from code2asin.tiles import Tile

if TYPE_CHECKING:
    from code2asin.jobs.progress import LiveProgress

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Turn supplier barcode files (EAN/UPC/ISBN/GTIN) into Amazon ASINs and product data.",
)
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")
app.add_typer(user_app, name="user")
app.command()(serve)
app.add_typer(track_app, name="track")
app.command("worker")(worker_command)
app.command("beat")(beat_command)
app.command("healthcheck")(healthcheck)

out = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]Error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _limits(settings: Settings) -> IngestLimits:
    return IngestLimits(
        max_bytes=settings.max_upload_bytes, max_rows=settings.max_rows, max_columns=settings.max_columns
    )


def _open(input_path: Path, settings: Settings, code_column: str | None) -> InputTable:
    return open_table(input_path, code_column=code_column, limits=_limits(settings))


class RateColumn(ProgressColumn):
    """Rows per hour, once the bar has a measured speed."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed * 3600:,.0f}/h" if speed else "", style="progress.data.speed")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err,
        transient=False,
        disable=not err.is_terminal,
    )


def print_tiles(tiles: Sequence[Tile], title: str = "Statistics") -> None:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("Tile", style="bold")
    table.add_column("Value", justify="right")
    for tile in tiles:
        table.add_row(tile.label, tile.text)
    out.print(table)


@app.command()
def check(
    input_path: Annotated[
        Path, typer.Argument(metavar="INPUT", help="CSV, TXT, XLSX, XLSM, XLS or ODS file.")
    ],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write a report (.xlsx or .csv).")
    ] = None,
    code_column: Annotated[
        str | None, typer.Option(help="Header (or 1-based number) of the code column.")
    ] = None,
) -> None:
    """Parse and validate the codes only: no lookups, no database (status valid/invalid)."""
    settings = load_settings()
    try:
        table = _open(input_path, settings, code_column)
        reasons: Counter[str] = Counter()
        examples: list[tuple[int, str, str]] = []

        def rows() -> Iterator[dict[str, Any]]:
            for row in table.rows():
                parsed = barcodes.parse_code(row.code_value)
                if not parsed.valid:
                    reasons[parsed.reason or "invalid"] += 1
                    if len(examples) < 10:
                        examples.append((row.row_no, parsed.raw, parsed.message or ""))
                else:
                    reasons["valid"] += 1
                if output is None:
                    continue
                yield {
                    "row": row.row_no,
                    "input_code": parsed.raw,
                    "code_type": parsed.code_type.value if parsed.code_type else None,
                    "gtin": parsed.gtin,
                    "product_ean": parsed.product_ean,
                    "status": "valid" if parsed.valid else "invalid",
                    "supplier_price": row.price,
                    "error_type": None if parsed.valid else "invalid_data",
                    "error_message": parsed.message,
                    "input_values": row.cells,
                }

        def summary() -> list[Tile]:
            total = sum(reasons.values())
            valid = reasons["valid"]
            lines = [Tile("Total Codes", total), Tile("Valid", valid), Tile("Invalid", total - valid)]
            return lines + [Tile(f"  {r}", n) for r, n in reasons.most_common() if r != "valid"]

        if output is None:
            for _ in rows():
                pass
        else:
            write_results(output, rows(), table.headers, tiles=summary)
    except Code2AsinError as exc:
        fail(str(exc))
    print_tiles(summary(), title=f"Check of {input_path.name}")
    if not sum(reasons.values()):
        fail(f"{input_path.name} has a header row but no data row: there is nothing to check.")
    if examples:
        table_ex = Table(title="First invalid rows", title_justify="left")
        table_ex.add_column("Row", justify="right")
        table_ex.add_column("Code")
        table_ex.add_column("Reason")
        for row_no, raw, message in examples:
            table_ex.add_row(str(row_no), raw, message)
        out.print(table_ex)
    if output is not None:
        out.print(f"Report written to {output}")


@app.command()
def convert(
    input_path: Annotated[
        Path, typer.Argument(metavar="INPUT", help="CSV, TXT, XLSX, XLSM, XLS or ODS file.")
    ],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Results file (.xlsx or .csv).")
    ] = None,
    mode: Annotated[
        str, typer.Option(help="amazon (look codes up) or direct (import EAN,ASIN pairs).")
    ] = "amazon",
    provider: Annotated[
        str | None, typer.Option(help="Provider plan: sandbox, creators, spapi, spapi+creators.")
    ] = None,
    marketplace: Annotated[
        str | None,
        typer.Option(
            help="Marketplace code (FR, DE, UK, US, ...), or several joined by commas (FR,DE,IT): one "
            "result per row on each, one results sheet per marketplace."
        ),
    ] = None,
    supplier: Annotated[str, typer.Option(help="Supplier code recorded on the job.")] = "DEFAULT",
    download_images: Annotated[
        bool, typer.Option("--download-images", help="Copy Amazon images to storage.")
    ] = False,
    max_images: Annotated[int, typer.Option(help="Images per product.")] = 10,
    image_mode: Annotated[str, typer.Option(help="replace, append or skip.")] = "replace",
    code_column: Annotated[
        str | None, typer.Option(help="Header (or 1-based number) of the code column.")
    ] = None,
    confidence_threshold: Annotated[
        float | None, typer.Option(help="Matches below this confidence (0-1) are reported, not accepted.")
    ] = None,
    max_wait: Annotated[
        float,
        typer.Option(
            help="Minutes the run may wait, in all, for rows due again (a quota refill, the 1- and 5-minute "
            "retries); rows due later end failed and say so."
        ),
    ] = 10.0,
    max_calls: Annotated[
        int | None,
        typer.Option(min=1, help="Pause the job before a provider call past this many (a budget)."),
    ] = None,
    max_keepa_tokens: Annotated[
        int | None,
        typer.Option(min=1, help="Pause the job before a Keepa call that would spend past this many tokens."),
    ] = None,
    title_search: Annotated[
        bool,
        typer.Option(
            "--title-search",
            help="Search rows whose code Amazon does not find by their title and brand (one more call per "
            "such row); a match found so is fuzzy and listed for review.",
        ),
    ] = False,
    title_search_invalid: Annotated[
        bool,
        typer.Option(
            "--title-search-invalid",
            help="Also search by title the rows whose code is invalid but that carry a title (they stay "
            "invalid when nothing is found).",
        ),
    ] = False,
    title_threshold: Annotated[
        float, typer.Option(min=0.0, max=0.8, help="Score (0-0.80) a title match needs to be accepted.")
    ] = 0.70,
) -> None:
    """Run one job on the configured backend and write the results file."""
    from code2asin.jobs.convert import ConvertRequest, run_convert
    from code2asin.jobs.estimate import describe_estimate

    settings = load_settings()
    if mode not in ("amazon", "direct"):
        fail(f"Unknown mode {mode!r}: use amazon or direct.")
    if image_mode not in ("replace", "append", "skip"):
        fail(f"Unknown image mode {image_mode!r}: use replace, append or skip.")
    output = output or input_path.with_name(results_filename(input_path.name))
    if output.suffix.lower() not in (".xlsx", ".csv"):
        fail(f"Cannot write {output.name}: the results file must end in .xlsx or .csv.")
    marketplaces = _marketplaces(marketplace or settings.marketplace)
    request = ConvertRequest(
        input_path=input_path,
        output_path=output,
        mode=mode,
        provider_plan=provider or settings.provider,
        marketplace=marketplaces[0],
        marketplaces=tuple(marketplaces),
        supplier_code=supplier,
        download_images=download_images,
        max_images=max_images,
        image_mode=image_mode,
        code_column=code_column,
        confidence_threshold=(
            settings.confidence_threshold if confidence_threshold is None else confidence_threshold
        ),
        max_wait_seconds=max(max_wait, 0.0) * 60,
        max_calls=max_calls,
        max_keepa_tokens=max_keepa_tokens,
        title_search=title_search,
        title_search_invalid=title_search_invalid,
        title_threshold=title_threshold,
    )
    if not 0.0 <= request.confidence_threshold <= 1.0:
        fail("The confidence threshold is a number between 0 and 1.")
    from code2asin.cli_logging import configure_cli_logging

    configure_cli_logging(lambda line: err.print(line, style="yellow", markup=False, soft_wrap=True))
    started = time.perf_counter()
    try:
        with _progress() as progress:
            reading = progress.add_task("Reading rows", total=None)
            processing = progress.add_task("Looking up", total=None, visible=False)

            def on_read(n: int) -> None:
                progress.update(reading, completed=n)

            def on_process(live: LiveProgress) -> None:
                progress.update(
                    processing, completed=live.looked_up, total=live.total, visible=True,
                    description=_looking_up(live),
                )

            def on_wait(due: datetime) -> None:
                when = due.astimezone().strftime("%H:%M:%S")
                progress.update(processing, description=f"Waiting for the quota or a retry until {when}")

            result = run_convert(
                settings,
                request,
                on_read=on_read,
                on_process=on_process,
                on_wait=on_wait,
                on_estimate=lambda found: progress.console.print(describe_estimate(found), highlight=False),
                table_opener=lambda p: _open(p, settings, code_column),
            )
    except Code2AsinError as exc:
        fail(str(exc))
    elapsed = time.perf_counter() - started
    title = f"Job {result.job_id[:8]} {result.status}"
    if result.availability is not None:
        markets = result.availability["marketplaces"]
        title += f", all {len(markets)} marketplaces ({result.rows:,} rows × {len(markets)} results)"
    print_tiles(result.tiles, title=title)
    if result.availability is not None:
        from code2asin.jobs.convert import availability_lines

        for market, tiles in result.by_marketplace.items():
            print_tiles(tiles, title=f"{market}")
        print_tiles(availability_lines(result.availability), title="Available on")
    out.print(f"Results written to {output} ({result.rows:,} rows, {elapsed:.1f} s)")
    if result.status != "completed":
        fail(result.error_message or f"The job ended {result.status}.")


def _looking_up(live: LiveProgress) -> str:
    """The bar's label: rows enriched and what the job has spent so far."""
    spent = f"{live.provider_calls:,} calls"
    if live.keepa_tokens:
        spent += f", {live.keepa_tokens:,} Keepa tokens"
    return f"Looking up ({live.enriched:,} enriched, {spent})"


def _marketplaces(value: str) -> list[str]:
    """``"fr, de,IT"`` -> ``["FR", "DE", "IT"]`` (order kept, repeats dropped); one sentence when unknown."""
    from code2asin.providers.marketplaces import get_marketplace

    codes = list(dict.fromkeys(part.strip().upper() for part in value.split(",") if part.strip()))
    if not codes:
        fail("Name at least one marketplace, for example --marketplace FR or --marketplace FR,DE,IT.")
    known: list[str] = []
    for code in codes:
        try:
            known.append(get_marketplace(code).code)
        except ValueError as exc:
            fail(str(exc))
    return list(dict.fromkeys(known))


@app.command()
def sandbox(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8700,
    credential_id: Annotated[str | None, typer.Option(help="Creators credential id to accept.")] = None,
    credential_secret: Annotated[
        str | None, typer.Option(help="Creators credential secret to accept.")
    ] = None,
    refresh_token: Annotated[str | None, typer.Option(help="SP-API refresh token to accept.")] = None,
    latency_ms: Annotated[float, typer.Option(help="Latency added to every answer.")] = 0.0,
    no_quotas: Annotated[bool, typer.Option("--no-quotas", help="Do not enforce Amazon's quotas.")] = False,
) -> None:
    """Serve the local Amazon simulator (Creators API, SP-API, image CDN) until interrupted."""
    import threading

    from code2asin.sandbox import server as sb

    running = sb.SandboxServer(
        host,
        port,
        credential_id=credential_id or sb.DEFAULT_CREDENTIAL_ID,
        credential_secret=credential_secret or sb.DEFAULT_CREDENTIAL_SECRET,
        refresh_token=refresh_token or sb.DEFAULT_REFRESH_TOKEN,
        latency_ms=latency_ms,
        quotas=None if no_quotas else sb.SandboxQuotas(),
    ).start()
    out.print(f"Sandbox ready at {running.base_url}", highlight=False)
    out.print(
        "Creators API: "
        f"CODE2ASIN_CREATORS_API_URL={running.base_url} "
        f"CODE2ASIN_CREATORS_TOKEN_URL={running.cognito_token_url} "
        f"CODE2ASIN_CREATORS_CREDENTIAL_ID={credential_id or sb.DEFAULT_CREDENTIAL_ID} "
        f"CODE2ASIN_CREATORS_CREDENTIAL_SECRET={credential_secret or sb.DEFAULT_CREDENTIAL_SECRET} "
        f"CODE2ASIN_CREATORS_PARTNER_TAG={sb.DEFAULT_PARTNER_TAG}",
        highlight=False,
        soft_wrap=True,
    )
    out.print(
        "SP-API: "
        f"CODE2ASIN_SPAPI_API_URL={running.base_url} CODE2ASIN_SPAPI_TOKEN_URL={running.lwa_token_url} "
        f"CODE2ASIN_SPAPI_CLIENT_ID={sb.DEFAULT_LWA_CLIENT_ID} "
        f"CODE2ASIN_SPAPI_CLIENT_SECRET={sb.DEFAULT_LWA_CLIENT_SECRET} "
        f"CODE2ASIN_SPAPI_REFRESH_TOKEN={refresh_token or sb.DEFAULT_REFRESH_TOKEN}",
        highlight=False,
        soft_wrap=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema to the newest version."""
    from code2asin.db import Database

    settings = load_settings()
    db = Database.from_settings(settings)
    try:
        db.upgrade()
    finally:
        db.dispose()
    out.print(f"Database is up to date ({db.engine.url.render_as_string(hide_password=True)}).")


def main() -> None:
    """The ``code2asin`` entry point: an invalid setting is one sentence and exit code 2, whatever the
    command; a ``CODE2ASIN_*`` variable that is no setting (a typo) is a warning."""
    for warning in unknown_variables():
        err.print(f"[yellow]Warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    try:
        app()
    except SettingsError as exc:
        err.print(f"[bold red]Error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("Interrupted.")
        sys.exit(130)
