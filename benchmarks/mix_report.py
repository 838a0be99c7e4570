"""The mix benchmark's ceilings (each plan's bottleneck quota) and its printed table and details."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass

from benchmarks.mix_results import (
    BASELINE,
    COUNTED_OPS,
    ENRICH_OPS,
    IDENTIFY_OPS,
    KEEPA_CALL_TOKENS,
    QUOTA_LABELS,
    OpStats,
    PlanResult,
)


def quota_rates() -> dict[str, float]:
    """Requests (Keepa: tokens) per second of each quota, as the sandbox enforces them by default."""
    from code2asin.sandbox.server import SandboxQuotas

    q = SandboxQuotas()
    return {
        "creators": q.creators_rps,
        "catalog": q.spapi_catalog_rps,
        "pricing": q.spapi_pricing_rps,
        "keepa": q.keepa_refill_rate / q.keepa_refill_interval_s,
    }


def demands(plan_name: str, a: float) -> dict[str, float]:
    """Quota units each code costs under ``plan_name`` (see the module docstring's table)."""
    from code2asin.providers.creators import CreatorsClient
    from code2asin.providers.plan import parse_plan
    from code2asin.providers.spapi import SpapiClient, SpapiPricing

    stages = parse_plan(plan_name)
    out: dict[str, float] = {}

    def add(quota: str, units: float) -> None:
        out[quota] = out.get(quota, 0.0) + units

    first, *rest = stages
    if first == "creators":
        add("creators", 1 / CreatorsClient.identify_batch_size)
    elif first == "spapi":
        add("catalog", 1 / SpapiClient.identify_batch_size)
    else:
        add("keepa", a)  # one token per product returned
    for stage in rest + (["spapi"] if stages == ["spapi"] else []):
        if stage == "creators":
            add("creators", a / CreatorsClient.enrich_batch_size)
        elif stage == "spapi":
            add("pricing", a / SpapiPricing.enrich_batch_size)
        else:
            add("keepa", a)  # one token per ASIN
    return out


def ceiling(plan_name: str, a: float, *, with_keepa: bool = True) -> tuple[float, str]:
    """(codes per hour, bottleneck quota) of ``plan_name``; ``with_keepa=False``: rate quotas only."""
    rates = quota_rates()
    best, label = math.inf, "none"
    for quota, demand in demands(plan_name, a).items():
        if demand <= 0 or (quota == "keepa" and not with_keepa):
            continue
        codes_per_hour = 3600 * rates[quota] / demand
        if codes_per_hour < best:
            best = codes_per_hour
            label = QUOTA_LABELS[quota].format(rate=rates[quota], per_minute=rates[quota] * 60)
    return best, label


def sustained(result: PlanResult) -> tuple[float, bool]:
    """(codes per hour an hour-long run keeps up, whether the Keepa refill bound it)."""
    keepa = demands(result.plan, result.asins_per_code).get("keepa", 0.0)
    if keepa <= 0:
        return result.codes_per_hour, False
    bound = 3600 * quota_rates()["keepa"] / keepa
    return (bound, True) if bound < result.codes_per_hour else (result.codes_per_hour, False)


QUOTA_OPS = {
    "creators": ("searchItems", "getItems"),
    "catalog": ("searchCatalogItems",),
    "pricing": ("getCompetitivePricing",),
}


def bottleneck_use(result: PlanResult) -> str | None:
    """When the plan's bottleneck rate quota was first used, and how busy it was from then on."""
    rates = quota_rates()
    wanted = {q: d for q, d in demands(result.plan, result.asins_per_code).items() if q in QUOTA_OPS}
    if not wanted:
        return None
    quota = min(wanted, key=lambda q: rates[q] / wanted[q] if wanted[q] else math.inf)
    times = sorted(t for op in QUOTA_OPS[quota] for t in result.ops.get(op, OpStats()).times)
    if len(times) < 2:
        return f"{quota} quota: {len(times)} answered call(s) in the window"
    per_second = (len(times) - 1) / (times[-1] - times[0])
    return (
        f"{quota} quota first used at {times[0]:.1f} s, then {per_second:.2f} req/s "
        f"= {100 * per_second / rates[quota]:.1f} % of its {rates[quota]:g}/s"
    )


def _calls_per_code(result: PlanResult) -> str:
    parts: list[str] = []
    for op, s in sorted(result.ops.items()):
        if op in COUNTED_OPS:
            parts.append(f"{op} x{s.calls}")
            continue
        per_call = s.items / s.calls if s.calls else 0.0
        if op in IDENTIFY_OPS and s.distinct:
            parts.append(f"{op} {s.calls / s.distinct:.3f} ({per_call:.1f} codes/call)")
        elif op in ENRICH_OPS and s.distinct:
            per_code = s.calls * result.asins_per_code / s.distinct
            parts.append(f"{op} {per_code:.3f} ({per_call:.1f} ASINs/call)")
        else:
            parts.append(f"{op} {s.calls} calls")
        if s.throttled or s.other:
            parts[-1] += f" [429: {s.throttled}, other errors: {s.other}]"
    return "; ".join(parts) or "no calls"


def print_table(results: list[PlanResult], baseline: PlanResult) -> None:
    base, _ = sustained(baseline)
    print(
        f"{'plan':<22}{'done':>6}{'commit':>7}{'codes/h':>10}{'sustained':>11}{'ceiling':>10}  "
        f"{'bottleneck':<22}{'% ceil':>7}{'429s':>6}{'a':>6}  ratio"
    )
    for r in results:
        value, keepa_bound = sustained(r)
        top, label = ceiling(r.plan, r.asins_per_code)
        pct = f"{100 * value / top:.1f}" if math.isfinite(top) and top else "-"
        ratio = f"{value / base:.2f}×" if base else "-"
        mark = "*" if keepa_bound else " "
        throttled = sum(s.throttled for s in r.ops.values())
        print(
            f"{r.plan:<22}{r.done:>6}{r.committed:>7}{r.codes_per_hour:>10,.0f}{value:>10,.0f}{mark}"
            f"{top:>10,.0f}  {label:<22}{pct:>7}{throttled:>6}{r.asins_per_code:>6.2f}  "
            f"vs {BASELINE} = {ratio}"
        )


def print_details(results: list[PlanResult]) -> None:
    from code2asin.providers.plan import parse_plan

    print("\nprovider calls per code, by operation (sandbox log over the window):")
    for r in results:
        print(f"  {r.plan:<22}{_calls_per_code(r)}")
    print("\nbottleneck rate quota over the window (sandbox log; the first call ends the pipeline's fill):")
    for r in results:
        print(f"  {r.plan:<22}{bottleneck_use(r) or 'none (Keepa alone)'}")
    notes: list[str] = []
    for r in results:
        if "keepa" in demands(r.plan, r.asins_per_code):
            top, label = ceiling(r.plan, r.asins_per_code, with_keepa=False)
            window = (
                f"{100 * r.codes_per_hour / top:.1f} % of the rate quotas' ceiling {top:,.0f} ({label})"
                if math.isfinite(top)
                else "Keepa alone: the window spends the starting balance"
            )
            notes.append(
                f"{r.plan}: window {r.codes_per_hour:,.0f} codes/h while the balance lasts = {window}; "
                f"Keepa balance at the deadline {r.keepa_left} tokens"
            )
        keepa_enrich = [st for st in parse_plan(r.plan)[1:] if st == "keepa"]
        if keepa_enrich and r.keepa_left is not None and r.keepa_left < KEEPA_CALL_TOKENS:
            notes.append(
                f"{r.plan}: the Keepa balance ran out within the window ({r.keepa_left} tokens left): the "
                "window figure mixes the balance and the refill regimes"
            )
        if r.job_status not in ("processing", "paused"):
            notes.append(
                f"{r.plan}: the job ended in the window ({r.job_status}: {r.job_error or 'no error'})"
            )
        failed = r.statuses.get("failed", 0)
        if failed:
            notes.append(f"{r.plan}: {failed} rows failed")
        if r.warnings:
            events = ", ".join(f"{k} x{v}" for k, v in sorted(r.warnings.items()))
            notes.append(f"{r.plan}: log warnings: {events}")
    if notes:
        print("\nnotes:")
        for note in notes:
            print(f"  {note}")


