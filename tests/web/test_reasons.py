"""Issue #16: row reasons and error messages in French. Every message comes from its real generator (the
barcode parser, the matcher, the provider clients against the sandbox, the row and price-run results,
the price alerts), so an English sentence added without a French rule fails here."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from tests.providers import test_creators_sandbox as creators_walk
from tests.providers import test_keepa_client_sandbox as keepa_walk
from tests.providers import test_spapi_sandbox as spapi_walk
from tests.test_matching import BOOK_ISBN10, COKE_UPC, NUTELLA, NUTELLA_IDS, item

from code2asin import barcodes
from code2asin.errors import ErrorType, ProviderError
from code2asin.jobs import rows
from code2asin.jobs import service as jobs_service
from code2asin.jobs.estimate import Quotas, estimate
from code2asin.jobs.meter import Cost, cap_reason
from code2asin.matching import decide
from code2asin.pricing import alerts, reprice
from code2asin.providers.base import LookupCode, LookupOutcome
from code2asin.sandbox import sample_codes
from code2asin.sandbox.server import SandboxServer
from code2asin.web.reasons import translate, untranslated

OFF = Path(__file__).parents[1] / "fixtures" / "openfoodfacts" / "real_barcodes_openfoodfacts.csv"
#: cells that reach every branch of the barcode parser's messages
CELLS: list[object] = [
    "",
    None,
    True,
    "2024-01-05",
    datetime(2024, 1, 5, 10, 30),
    12.5,
    -123,
    0.0,
    "1.23E+12",
    "3.01762E+12",
    "3.017620422003E+12",
    "abc",
    "TRUE",
    "0000000000000",
    "4006381333932",
    "0545162077",
    "0545162070",
    "12345",
    "123456789012345",
    "20240105",
    "00000001",
    "00000000004299",
    "0000079811132",
    "93017620422002",
    "0220051059769",
    "0412345678903",
    "0512345678900",
    "2444012029266",
    "9511234567890",
    "9521234567899",
    "9801234567892",
    "9811234567891",
    "9901234567899",
    "20974022",
    "9790906736950",
    "01000009",
    "417628001",
    "36000291452",
    "0545162076",
    "18518924",
    "06665074",
    "3017620422003",
]


def _cells() -> list[object]:
    with OFF.open(newline="", encoding="utf-8") as handle:
        return [row[0] for row in csv.reader(handle)][1:] + CELLS


def assert_french(messages: list[str]) -> None:
    left = {m: untranslated(m) for m in messages if m}
    assert {m: rest for m, rest in left.items() if rest} == {}


def test_every_barcode_message_reads_in_french() -> None:
    messages = sorted({p.message for p in map(barcodes.parse_code, _cells()) if p.message})
    assert len(messages) > 40
    assert_french(messages)
    assert translate("Empty cell: there is no barcode to look up.", "fr").startswith("Cellule vide")
    zero = barcodes.parse_code("0000079811132").message
    assert translate(zero, "fr") == "0000079811132 est l'EAN-8 79811132 écrit avec 5 zéros en tête."
    assert translate(zero, "en") == zero


def _decisions() -> list[Any]:
    exact = item("B000000001", title="Nutella 400 g", identifiers=NUTELLA_IDS)
    rival = item("B000000002", title="Nutella 400 g", identifiers=NUTELLA_IDS, buy_box=False)
    normalised = item("B000000003", identifiers={"EAN": ["0036000291452"]})
    pack = item("B000000004", title="Nutella 400 g x6", identifiers=NUTELLA_IDS, package_quantity=6)
    title_pack = item("B000000005", title="Nutella lot de 3", identifiers=NUTELLA_IDS)
    bundle = item("B000000006", identifiers=NUTELLA_IDS, item_classification="PRODUCT_BUNDLE")
    parent = item("B000000007", identifiers=NUTELLA_IDS, item_classification="VARIATION_PARENT")
    child = item("B000000008", identifiers=NUTELLA_IDS, parent_asin="B000000007", sales_rank=1234)
    stranger = item("B000000009", title="Nutella pâte à tartiner 400 g", identifiers={"EAN": ["1"]})
    bare = item("B000000010", title="Nutella pâte à tartiner 400g", price=None, buy_box=False)
    listed = item("B000000011", identifiers={"EAN": ["03017620422003"]})
    book = item("0545162076", identifiers={"ISBN": ["9780545162074"]})
    title = "Nutella pâte à tartiner 400 g"
    cases: list[tuple[LookupCode, list[Any], dict[str, Any]]] = [
        (NUTELLA, [exact], {}),
        (NUTELLA, [exact, rival, pack, parent], {"supplier_title": "Chaise de jardin"}),
        (COKE_UPC, [normalised], {}),
        (NUTELLA, [pack], {"supplier_price": Decimal("0.50")}),
        (NUTELLA, [title_pack, bundle], {}),
        (NUTELLA, [parent], {}),
        (NUTELLA, [child, exact], {"supplier_asin": "B00000000X"}),
        (NUTELLA, [stranger, bare], {"supplier_title": title}),
        (NUTELLA, [stranger], {"supplier_title": "Chaise"}),
        (NUTELLA, [stranger, bare], {}),
        (NUTELLA, [], {}),
        (NUTELLA, [listed], {"threshold": 0.99}),
        (BOOK_ISBN10, [book], {}),
    ]
    return [decide(code, candidates, **kwargs) for code, candidates, kwargs in cases]


def test_every_match_reason_and_candidate_reason_reads_in_french() -> None:
    decisions = _decisions()
    reasons = [d.reason for d in decisions]
    candidate_reasons = sorted({r for d in decisions for c in d.candidates for r in c.reasons})
    assert len(candidate_reasons) > 12
    assert_french(reasons + candidate_reasons)
    assert (
        translate(decisions[0].reason, "fr")
        == "B000000001 porte le code EAN 3017620422003 tel qu'il est écrit."
    )
    assert translate(decisions[10].reason, "fr") == "Amazon n'a renvoyé aucun article pour EAN 3017620422003."


def _provider_errors() -> list[ProviderError]:
    errors: list[ProviderError] = []
    single = sample_codes.example_codes()["single"][0]
    with SandboxServer(port=0, latency_ms=0, quotas=None, fault_timeout_s=1.0) as sb:
        for kind in ("500", "503", "timeout", "malformed_json", "429"):
            sb.inject_faults("searchCatalogItems", kind, 1)
            errors.append(spapi_walk.client(sb).identify([spapi_walk.lookup(single)])[single.zfill(14)].error)
            sb.inject_faults("searchItems", kind, 1)
            creators = creators_walk.client(sb)
            errors.append(creators.identify([creators_walk.lookup(single)])[single.zfill(14)].error)
            sb.inject_faults("keepaProduct", kind, 1)
            keepa = keepa_walk.keepa_client(sb)
            errors.append(keepa.identify([keepa_walk.lookup(single)])[single.zfill(14)].error)
        errors += [
            e
            for e in creators_walk.client(sb).enrich(["B0ZZZZZZZZ"]).values()
            if isinstance(e, ProviderError)
        ]
        errors += [
            e for e in spapi_walk.client(sb).prices(["B0ZZZZZZZZ"]).values() if isinstance(e, ProviderError)
        ]
        errors += [
            e
            for e in keepa_walk.keepa_client(sb).enrich(["B0ZZZZZZZZ"]).values()
            if isinstance(e, ProviderError)
        ]
    for walk in (spapi_walk, creators_walk, keepa_walk):
        while walk._open:
            walk._open.pop().close()
    return [e for e in errors if e is not None]


def test_provider_errors_and_the_retry_notes_around_them_read_in_french() -> None:
    errors = [
        *_provider_errors(),
        ProviderError("The provider gave no answer for this code.", ErrorType.UNKNOWN),
    ]
    assert {e.error_type for e in errors} >= {ErrorType.NETWORK, ErrorType.API_RATE_LIMIT} and len(
        errors
    ) >= 15
    now = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    messages = [str(e) for e in errors]
    for error in [
        *errors[:4],
        ProviderError(
            "Keepa has -3 tokens left and serves a call only while the balance is positive: waiting for "
            "the refill (5 tokens per refill).",
            ErrorType.API_RATE_LIMIT,
            60,
            sent=False,
        ),
    ]:
        for attempts, duplicate_of in ((0, None), (4, 2)):
            row = SimpleNamespace(
                id=1,
                job_id="j",
                row_no=3,
                marketplace="FR",
                input_code="3017620422003",
                code_type="EAN",
                asin=None,
                attempts=attempts,
                duplicate_of=duplicate_of,
            )
            values, log = rows.row_result(row, LookupOutcome(error=error), [], None, now, "w")  # type: ignore[arg-type]
            messages += [values["error_message"], log["message"]]
    assert_french(messages)
    assert any("(tentative 1 sur 5 ; prochain essai à 10:01 UTC)" in translate(m, "fr") for m in messages)
    assert any(translate(m, "fr").startswith("Même code que la ligne 2") for m in messages)


def test_price_alerts_price_runs_and_manual_validations_read_in_french() -> None:
    def seen(price: str | None, in_stock: bool = True) -> alerts.Seen:
        return alerts.Seen(None if price is None else Decimal(price), "EUR", in_stock, Decimal("5.00"), "EUR")

    ten = Decimal("10")
    drafts = [
        *alerts.detect(seen("4.00"), seen("6.00"), ten),
        *alerts.detect(seen("6.00"), seen(None, in_stock=False), ten),
        *alerts.detect(seen(None, in_stock=False), seen("4.50"), ten),
        *alerts.detect(seen("6.00", in_stock=False), seen(None), ten),
    ]
    messages = [d.message for d in drafts]
    assert len(messages) >= 5
    now = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    row = SimpleNamespace(
        id=1, job_id="j", row_no=1, input_code="3017620422003", code_type="EAN", asin="B000000001", attempts=0
    )
    for answer in (
        item("B000000001", price=Decimal("5.19"), currency="EUR"),
        item("B000000001", price=None),
        ProviderError("SP-API getCompetitivePricing answered HTTP 503.", ErrorType.NETWORK),
    ):
        values, log = reprice._row(row, answer, now, "w", "spapi")  # type: ignore[arg-type]
        messages += [values["error_message"], log["message"]]
    spent = SimpleNamespace(provider_calls=12, keepa_tokens=100)
    messages.append(cap_reason(spent, 12, None, Cost(1), 1))
    messages.append(cap_reason(spent, None, 150, Cost(1, 100), 1))
    messages += estimate("spapi+keepa", Quotas(), codes=500).assumptions
    messages += estimate("keepa", Quotas(), codes=500).assumptions
    messages.append(jobs_service.manual_log_message("alice"))
    messages.append(jobs_service.manual_log_message(None))
    messages.append(jobs_service.rejected_message("user:alice", "B0ABCDEF12"))
    messages.append(jobs_service.rejected_message(None, "0306406152"))
    assert_french(messages)
    assert translate(jobs_service.rejected_message("user:alice", "B0ABCDEF12"), "fr") == (
        "Rejeté par user:alice : B0ABCDEF12 n'est pas ce produit."
    )
    assert "Prix 5,19 EUR" in [translate(m, "fr") for m in messages]


@pytest.mark.parametrize("lang", ["en", "de"])
def test_other_languages_keep_the_english_text(lang: str) -> None:
    assert translate("Amazon returned no item for EAN 3017620422003.", lang).startswith("Amazon returned")
    assert translate(None, lang) == ""


def test_title_search_reasons_and_remembered_decisions_read_in_french() -> None:
    from code2asin.jobs.models import MatchDecisionRecord
    from code2asin.jobs.title_stage import remembered_result
    from code2asin.title_match import decide_by_title

    spread = item("B0TM000001", title="Norvella Pâte à tartiner noisettes cacao, 400 g", brand="Norvella")
    bigger = item("B0TM000002", title="Norvella Pâte à tartiner noisettes cacao 750 g", brand="Norvella")
    pack = item("B0TM000003", title="Norvella pâte à tartiner - Lot de 6 x 400 g", brand="Norvella")
    rival = item("B0TM000004", title="Rivalo Pâte à tartiner noisettes 400 g", brand="Rivalo")
    twin = item("B0TM000005", title="Norvella pâte à tartiner noisettes cacao 400 g", brand="Norvella")
    cheap = item(
        "B0TM000006", title="Norvella pâte à tartiner noisettes cacao 400 g", brand=None, price=Decimal("40")
    )
    found = [spread, bigger, pack, rival]
    decisions = [
        decide_by_title(
            found,
            supplier_title="PATE A TART. NOISET. 400G",
            supplier_brand="NORVELLA",
            supplier_price=Decimal("2.10"),
        ),
        decide_by_title(
            found, supplier_title="pâte à tartiner 1kg", supplier_brand="Norvella", rejected={spread.asin}
        ),
        decide_by_title([spread, twin], supplier_title="Norvella pâte à tartiner noisettes cacao 400 g"),
        decide_by_title([cheap], supplier_title="Pâte d'amande 400 g", supplier_price=Decimal("2")),
        decide_by_title([], supplier_title="Lampe", supplier_brand="Lumo"),
    ]
    messages = [d.reason for d in decisions] + sorted(
        {r for d in decisions for c in d.candidates for r in c.reasons}
    )
    messages += estimate("spapi+creators", Quotas(), codes=100, titled_codes=50).assumptions
    record = MatchDecisionRecord(asin="B0TM000001", actor="bob", decided_at=datetime(2026, 12, 7, tzinfo=UTC))
    row = SimpleNamespace(
        id=1,
        job_id="j",
        row_no=1,
        marketplace="FR",
        input_code="3017620422003",
        code_type="EAN",
        asin=None,
        attempts=0,
        duplicate_of=None,
    )
    values, _ = remembered_result(row, record, spread, "SUP", datetime(2026, 12, 8, tzinfo=UTC), "w")  # type: ignore[arg-type]
    messages += [
        values["error_message"],
        "No stage of this plan searches by title.",
        "Left out B0TM000001, B0TM000002: rejected by a person for this supplier's code.",
    ]
    assert_french(messages)
    assert (
        translate(decisions[4].reason, "fr")
        == "La recherche par désignation « Lampe » (marque Lumo) n'a trouvé aucun article."
    )
    assert translate(values["error_message"], "fr").startswith(
        "Décision mémorisée : bob a accepté B0TM000001"
    )
