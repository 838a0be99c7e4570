"""Provider plan names: which stages exist and how a plan such as ``spapi+creators`` is spelled (pure)."""

from __future__ import annotations

from code2asin.errors import ConfigurationError

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
