"""Title search benchmark (issue #15): on a labelled set of supplier rows that Amazon does not find by
barcode, how precise are the fuzzy matches we accept, and what share of the rows do they recover?

The labelled set is the sandbox's ``title_cases()``: several hundred supplier rows (code, title written
the supplier's way, brand, wholesale price) whose code no identifier search finds, each labelled with
the ASIN it designates or with none, and with its trap: the right item among near misses of other sizes,
pack counts and brands (``match``, ``pack_match``), or no right answer at all (``other_size``,
``other_pack``, ``other_brand``, ``absent``).

For each plan, a real job runs the whole file through the chunk runner on SQLite against a sandbox over
HTTP (no quotas: this measures quality, not speed), with ``title_search`` on at the default threshold.
Measured from the job's rows: accepted fuzzy matches, how many are the labelled ASIN (precision), the
share of all rows recovered, recall on the rows that have a right answer, and false accepts per trap.

Baseline, in the same run over the same search answers (read back from the job's lookup cache): the
usual title fallback, the best candidate whose ``token_set_ratio`` title similarity reaches 0.85 (the
fuzzy floor of ``matching``), with no brand, size, pack or price check. The threshold sweep re-reads the
job's stored confidences.

    python -m benchmarks titles [--plans spapi+creators,creators,keepa]
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

SWEEP = (0.60, 0.65, 0.70, 0.75, 0.80)


def _write_file(folder: Path, cases: list[Any]) -> Path:
    path = folder / "supplier.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, delimiter=";")
        writer.writerow(["EAN", "Désignation", "Marque", "Prix achat HT"])
        for case in cases:
            price = "" if case.price is None else str(case.price).replace(".", ",")
            writer.writerow([case.code, case.title, case.brand or "", price])
    return path


def _run_job(plan_name: str, path: Path, folder: Path, threshold: float) -> tuple[str, Any, float]:
    from code2asin.config import Settings
    from code2asin.db import Database
    from code2asin.ingest import open_table
    from code2asin.jobs import creation, service
    from code2asin.jobs.cache import LookupCacheStore
    from code2asin.jobs.embedded import run_job
    from code2asin.jobs.models import JobMode
    from code2asin.jobs.runner import ChunkRunner
    from code2asin.providers.plan import Endpoints, build_plan
    from code2asin.sandbox import server as sb

    db = Database(f"sqlite:///{folder / (plan_name.replace('+', '_') + '.db')}")
    db.upgrade()
    options = creation.JobOptions(title_search=True, title_threshold=threshold)
    job_id = creation.create_job(
        db, open_table(path), creation.NewJob("BENCH", JobMode.AMAZON, "FR", plan_name, path.name, options)
    )
    with db.unit_of_work() as session:
        service.start_job(session, job_id, "bench")
    with sb.SandboxServer(port=0, latency_ms=0, quotas=None) as sandbox:
        endpoints = Endpoints.for_running_sandbox(Settings(), sandbox, "FR")
        # quality, not speed: our own pacing would only make the run wait
        endpoints.creators_rate = endpoints.spapi_catalog_rate = endpoints.spapi_pricing_rate = 1e6
        endpoints.spapi_catalog_burst = 1000
        plan = build_plan(Settings(), plan_name, "FR", endpoints=endpoints)
        try:
            cache = LookupCacheStore(db, 7 * 86400, 3600)
            runner = ChunkRunner(db, plan, cache, worker_id="bench")
            started = time.monotonic()
            run_job(db, runner, job_id, workers=4)
            elapsed = time.monotonic() - started
        finally:
            plan.close()
    return job_id, db, elapsed


def _rows(db: Any, job_id: str) -> dict[int, Any]:
    from sqlalchemy import select

    from code2asin.jobs.models import JobItem

    with db.unit_of_work() as session:
        items = session.scalars(select(JobItem).where(JobItem.job_id == job_id)).all()
        return {
            i.row_no: (i.status, i.asin, i.match_type, i.match_confidence, i.candidates, i.error_message)
            for i in items
        }


def _search_answers(db: Any) -> dict[str, list[Any]]:
    """The title searches the job made, from its lookup cache: query key -> candidates."""
    from sqlalchemy import select

    from code2asin.jobs.cache import candidate_from_dict
    from code2asin.jobs.models import LookupCache

    with db.unit_of_work() as session:
        rows = session.execute(
            select(LookupCache.key, LookupCache.payload).where(LookupCache.provider.like("%/title"))
        ).all()
    return {key: [candidate_from_dict(c) for c in payload.get("candidates", [])] for key, payload in rows}


def _baseline(cases: list[Any], answers: dict[str, list[Any]]) -> list[str | None]:
    from code2asin.jobs.title_stage import query_key
    from code2asin.matching import FUZZY_FLOOR, _title_similarity
    from code2asin.providers.base import TitleQuery

    chosen: list[str | None] = []
    for case in cases:
        found = answers.get(query_key(TitleQuery(" ".join(case.title.split()), case.brand or None)), [])
        scored = sorted(
            ((_title_similarity(case.title, c.title or ""), c.asin) for c in found),
            key=lambda s: (-s[0], s[1]),
        )
        chosen.append(scored[0][1] if scored and scored[0][0] >= FUZZY_FLOOR else None)
    return chosen


def _figures(cases: list[Any], chosen: list[str | None]) -> dict[str, float]:
    accepted = [(c, a) for c, a in zip(cases, chosen, strict=True) if a is not None]
    right = sum(1 for c, a in accepted if a == c.expected_asin)
    matchable = sum(1 for c in cases if c.expected_asin)
    return {
        "accepted": len(accepted),
        "correct": right,
        "precision": right / len(accepted) if accepted else 1.0,
        "recovered": len(accepted) / len(cases),
        "recall": right / matchable if matchable else 0.0,
    }


def _traps(cases: list[Any], chosen: list[str | None]) -> str:
    wrong: Counter[str] = Counter()
    totals: Counter[str] = Counter(c.trap for c in cases)
    for case, asin in zip(cases, chosen, strict=True):
        if asin is not None and asin != case.expected_asin:
            wrong[case.trap] += 1
    return ", ".join(f"{trap} {wrong[trap]}/{totals[trap]}" for trap in sorted(totals))


def _line(name: str, figures: dict[str, float]) -> str:
    return (
        f"  {name:<22} accepted {figures['accepted']:>4.0f}  correct {figures['correct']:>4.0f}  "
        f"precision {figures['precision']:6.1%}  recovered {figures['recovered']:6.1%}  "
        f"recall {figures['recall']:6.1%}"
    )


def run(plan_name: str, cases: list[Any], folder: Path, threshold: float, show: int = 0) -> dict[str, float]:
    path = _write_file(folder, cases)
    job_id, db, elapsed = _run_job(plan_name, path, folder, threshold)
    try:
        rows = _rows(db, job_id)
        answers = _search_answers(db)
    finally:
        db.dispose()
    ours = [rows[n + 1][1] if rows[n + 1][0] == "matched" else None for n in range(len(cases))]
    not_fuzzy = sum(1 for n in range(len(cases)) if rows[n + 1][0] == "matched" and rows[n + 1][2] != "fuzzy")
    naive = _baseline(cases, answers)
    mine, base = _figures(cases, ours), _figures(cases, naive)
    print(f"plan {plan_name}: {len(cases)} rows, {len(answers)} title searches, {elapsed:.1f} s")
    print(_line(f"ours (threshold {threshold:.2f})", mine))
    print(_line("baseline (title >= 0.85)", base))
    print(f"  false accepts by trap, ours: {_traps(cases, ours)}")
    print(f"  false accepts by trap, baseline: {_traps(cases, naive)}")
    for n, case in enumerate(cases):
        asin = ours[n]
        if asin is not None and asin != case.expected_asin and show > 0:
            show -= 1
            print(
                f"  WRONG row {n + 1} [{case.trap}] {case.title!r} brand={case.brand} price={case.price} -> "
                f"{asin} (expected {case.expected_asin}); {rows[n + 1][5]}"
            )
    wrong_ratio = (1 - base["precision"]) / (1 - mine["precision"]) if mine["precision"] < 1 else float("inf")
    print(
        f"  precision ours/baseline x{mine['precision'] / base['precision']:.2f}; wrong accepts "
        f"baseline/ours x{wrong_ratio:.1f}; matches not fuzzy: {not_fuzzy}"
    )
    sweep = []
    for level in (s for s in SWEEP if s >= threshold):  # rows below the job's threshold have no ASIN kept
        picked = [
            rows[n + 1][1] if rows[n + 1][0] == "matched" and (rows[n + 1][3] or 0) >= level else None
            for n in range(len(cases))
        ]
        figures = _figures(cases, picked)
        sweep.append(
            f"{level:.2f}: precision {figures['precision']:.1%}, recovered {figures['recovered']:.1%}"
        )
    print("  threshold sweep (re-read): " + "; ".join(sweep))
    return {f"ours_{k}": v for k, v in mine.items()} | {f"baseline_{k}": v for k, v in base.items()}


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks titles")
    parser.add_argument("--plans", default="spapi+creators,creators,keepa")
    parser.add_argument("--threshold", type=float, default=None, help="default: title_match's")
    parser.add_argument(
        "--show-wrong", type=int, default=0, help="print that many wrong accepts with reasons"
    )
    args = parser.parse_args(argv)
    from code2asin.sandbox.title_cases import title_cases
    from code2asin.title_match import DEFAULT_THRESHOLD

    threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    cases = list(title_cases())
    print(f"labelled set: {len(cases)} rows; traps: {dict(sorted(Counter(c.trap for c in cases).items()))}")
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for plan_name in args.plans.split(","):
            out[plan_name] = run(plan_name.strip(), cases, Path(tmp), threshold, args.show_wrong)
    return out


if __name__ == "__main__":
    main()
