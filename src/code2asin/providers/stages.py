"""Provider plans: which stages exist, how a plan such as ``spapi+creators`` is spelled, and ``Plan``, the
built stages a chunk runs (``providers.plan.build_plan`` builds one)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from code2asin.errors import ConfigurationError
from code2asin.providers.base import EnrichProvider, IdentifyProvider, TitleSearchProvider

KNOWN_STAGES = ("creators", "spapi", "keepa")


def parse_plan(plan: str) -> list[str]:
    """``"spapi+creators"`` -> ``["spapi", "creators"]``; raises ``ConfigurationError`` when unknown."""
    stages = [s.strip().lower() for s in plan.split("+") if s.strip()]
    if stages == ["sandbox"]:
        return ["spapi", "creators", "keepa"]
    unknown = [s for s in stages if s not in KNOWN_STAGES]
    if not stages or unknown:
        raise ConfigurationError(
            f"Unknown provider plan {plan!r}: use sandbox, creators, spapi, keepa, or stages joined by + "
            "(for example spapi+creators+keepa)."
        )
    if len(set(stages)) != len(stages):
        raise ConfigurationError(f"Provider plan {plan!r} names a stage twice.")
    return stages


@dataclass
class Plan:
    """Which provider identifies codes and which ones enrich the chosen ASINs, in order."""

    name: str
    identify: IdentifyProvider
    enrich: Sequence[EnrichProvider] = ()
    close: Callable[[], None] = field(default=lambda: None)
    #: image hosts the plan's providers serve images from, trusted like CODE2ASIN_IMAGE_HOSTS (a sandbox)
    image_hosts: tuple[str, ...] = ()
    #: provider -> tag of a non-default base URL: its cached answers are kept apart (``cache_name``)
    cache_scopes: dict[str, str] = field(default_factory=dict)
    #: the plan's first stage that can search by title and brand (the fallback for codes not found)
    title_search: TitleSearchProvider | None = None

    def cache_name(self, provider: str) -> str:
        """The lookup cache's name for ``provider``'s answers (``spapi``, or ``spapi@1a2b3c4d5e6f``)."""
        scope = self.cache_scopes.get(provider)
        return f"{provider}@{scope}" if scope else provider
