"""Matching benchmark (issue 3, item 11b): the cost of ``code2asin.matching.decide`` per 1,000 candidates.

Candidate sets are real client output: generated codes looked up once, over HTTP, in a sandbox without
quotas or latency, by ``CreatorsClient.identify`` (``searchItems``: identifier hits plus keyword noise,
multipacks, variation parents, near misses) and by ``SpapiClient.identify`` (``searchCatalogItems`` by 20,
items mapped back to their codes), so the ``Candidate`` objects are the ones a job scores. Supplier
titles are the sandbox product's title as a supplier would write it (upper case, last words dropped);
codes Amazon does not know get another product's title, as a file's other rows would.

Timed, best of ``--repeats``: ``decide`` over every set without and with the supplier title. Baseline,
in the same run over the same candidates: a bare loop that only compares each identifier, as GTIN-14
(digits kept, left-padded), with the code's GTIN-14: no scoring, no reasons, no title.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from typing import Any

Case = tuple[Any, list[Any], str]  # (LookupCode, candidates, supplier title)


def _fetch(count: int, seed: int) -> dict[str, list[Case]]:
    """Look ``count`` generated codes up through both clients against a fresh sandbox."""
    from benchmarks.bench_quota import MARKETPLACE, Target, _codes, sandbox_endpoints
    from code2asin.config import Settings
    from code2asin.providers.base import LookupCode
    from code2asin.providers.plan import build_plan
    from code2asin.providers.ratelimit import InProcessLimiter
    from code2asin.sandbox.catalogue import products_for_gtin
    from code2asin.sandbox.server import SandboxServer

    codes = [LookupCode(*c) for c in _codes(count, seed=seed)]
    known = [p[0].title for c in codes if (p := products_for_gtin(c.gtin))]
    titles: dict[str, str] = {}
    for n, code in enumerate(codes):
        products = products_for_gtin(code.gtin)
        title = products[0].title if products else known[(n * 7919) % len(known)]
        words = title.upper().split()
        titles[code.gtin] = " ".join(words[: max(3, len(words) - 2)])
    out: dict[str, list[Case]] = {}
    with SandboxServer(port=0, latency_ms=0, quotas=None) as sandbox:
        target = Target(sandbox.base_url, sandbox.cognito_token_url, sandbox.lwa_token_url)
        endpoints = sandbox_endpoints(target, creators_rate=1e6, catalog_rate=1e6)
        limiter = InProcessLimiter(margin=0.0, slack=0.0)
        for provider in ("creators", "spapi"):
            plan = build_plan(
                Settings(_env_file=None), provider, MARKETPLACE, endpoints=endpoints, limiter=limiter
            )
            try:
                outcomes: dict[str, Any] = {}
                size = plan.identify.identify_batch_size
                for start in range(0, len(codes), size):
                    outcomes.update(plan.identify.identify(codes[start : start + size]))
            finally:
                plan.close()
            failed = sum(1 for o in outcomes.values() if o.error is not None)
            if failed:
                raise SystemExit(f"{provider}: {failed} lookups failed against the sandbox")
            out[provider] = [(c, outcomes[c.gtin].candidates, titles[c.gtin]) for c in codes]
    return out


def _digits14(value: str) -> str | None:
    digits = "".join(ch for ch in value if ch.isdigit())
    return digits.zfill(14) if len(digits) <= 14 else None


def _baseline(cases: Sequence[Case]) -> int:
    """Only the GTIN-14 comparisons: which candidates carry the code."""
    hits = 0
    for code, candidates, _ in cases:
        key = code.gtin
        for candidate in candidates:
            if any(_digits14(v) == key for values in candidate.identifiers.values() for v in values):
                hits += 1
    return hits


def _decide_without_titles(cases: Sequence[Case]) -> object:
    from code2asin.matching import decide

    return [decide(code, candidates) for code, candidates, _ in cases]


def _decide_with_titles(cases: Sequence[Case]) -> object:
    from code2asin.matching import decide

    return [decide(code, candidates, supplier_title=title) for code, candidates, title in cases]


def _best(fn: Callable[[Sequence[Case]], object], cases: Sequence[Case], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn(cases)
        best = min(best, time.perf_counter() - started)
    return best


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks matching")
    parser.add_argument("--codes", type=int, default=3000, help="generated codes looked up (default 3000)")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes; the best is kept")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    sets = _fetch(args.codes, seed=1111)
    print(
        f"looked {args.codes:,} generated codes up through both clients in "
        f"{time.perf_counter() - started:.1f} s (fetching is not timed)"
    )
    print(
        f"{'candidates from':<28}{'measure':<30}{'codes':>7}{'cands':>7}{'ms':>9}{'ms/1k cands':>13}"
        f"{'µs/code':>9}{'vs baseline':>13}"
    )
    for provider, cases in sets.items():
        total = sum(len(c) for _, c, _ in cases)
        with_any = sum(1 for _, c, _ in cases if c)
        source = f"{provider} ({with_any}/{len(cases)} found)"
        runs: list[tuple[str, Callable[[Sequence[Case]], object]]] = [
            ("baseline: GTIN-14 compare", _baseline),
            ("decide, no supplier title", _decide_without_titles),
            ("decide, with supplier title", _decide_with_titles),
        ]
        base = 0.0
        for label, fn in runs:
            seconds = _best(fn, cases, args.repeats)
            base = base or seconds
            per_1k, per_code = seconds * 1e6 / total, seconds * 1e6 / len(cases)
            print(
                f"{source:<28}{label:<30}{len(cases):>7}{total:>7}{seconds * 1000:>9.1f}"
                f"{per_1k:>13.2f}{per_code:>9.1f}{seconds / base:>12.1f}x"
            )
