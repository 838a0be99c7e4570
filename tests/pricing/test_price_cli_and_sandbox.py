"""``code2asin track`` commands and the sandbox's moving, settable prices."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import httpx
import typer
from tests.pricing.conftest import direct_job, priced_products
from typer.testing import CliRunner

from code2asin.cli_pricing import track_app
from code2asin.db import Database
from code2asin.sandbox import catalogue, prices
from code2asin.sandbox import server as sb
from code2asin.sandbox.marketplaces import MARKETPLACES


def test_track_create_list_and_run_work_from_the_command_line(tmp_path: Path) -> None:
    db = Database.from_settings(__import__("code2asin.config", fromlist=["Settings"]).Settings())
    db.upgrade()
    try:
        source = direct_job(db, tmp_path, [(e, a, "3") for e, a, _ in priced_products(1)])
    finally:
        db.dispose()
    app = typer.Typer()
    app.add_typer(track_app, name="track")
    runner = CliRunner()
    created = runner.invoke(app, ["track", "create", "--job", source, "--provider", "spapi"])
    assert created.exit_code == 0, created.output
    tracker_id = created.stdout.strip().splitlines()[0]
    listed = runner.invoke(app, ["track", "list"])
    assert tracker_id in listed.stdout and "0 6 * * 1" in listed.stdout
    ran = runner.invoke(app, ["track", "run", tracker_id])
    assert ran.exit_code == 0 and "Run failed" in ran.output  # no SP-API credentials: one clear sentence
    bad = runner.invoke(app, ["track", "create", "--supplier", "S", "--schedule", "nope"])
    assert bad.exit_code == 1 and "cron" in bad.output


def test_sandbox_prices_move_by_date_within_3_percent_and_the_control_endpoint_sets_them() -> None:
    _, asin, base = priced_products(1)[0]
    item = catalogue.sandbox_item(asin)
    assert item is not None
    factors = {prices.daily_factor(asin, date(2026, 1, d)) for d in range(1, 29)}
    assert len(factors) > 20 and all(0.97 <= f <= 1.03 for f in factors)
    assert prices.daily_factor(asin, date(2026, 1, 5)) == prices.daily_factor(asin, date(2026, 1, 5))
    fr = next(m for m in MARKETPLACES if m.country == "FR")
    with sb.SandboxServer(port=0, quotas=None) as server:
        url = f"{server.base_url}/_sandbox/prices"
        state = httpx.post(url, json={"date": "2026-01-05", "asin": asin, "price": 12.34}).json()
        assert state["date"] == "2026-01-05" and state["overrides"] == [
            {"asin": asin, "marketplace": "FR", "price": 12.34}
        ]
        prices.activate(server.price_book)
        assert item.price(fr) == (12.34, "EUR")
        httpx.post(url, json={"asin": asin, "price": None})
        assert item.price(fr) is None
        httpx.post(url, json={"clear": True})
        moved = item.price(fr)
        assert moved is not None and abs(moved[0] - base) <= base * 0.031 + 0.1
        assert httpx.post(url, json={"asin": asin, "price": -1}).status_code == 400
        assert httpx.post(url, json={"date": "tomorrow"}).status_code == 400
    prices.activate(prices.DEFAULT_BOOK)
