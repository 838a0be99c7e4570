from __future__ import annotations

import re

import pytest

from code2asin.providers.marketplaces import MARKETPLACES, get_marketplace

REQUIRED = [
    "US",
    "CA",
    "MX",
    "BR",
    "UK",
    "DE",
    "FR",
    "IT",
    "ES",
    "NL",
    "BE",
    "PL",
    "SE",
    "IE",
    "TR",
    "AE",
    "SA",
    "EG",
    "IN",
    "JP",
    "AU",
    "SG",
]
KEEPA = {"US": 1, "UK": 2, "DE": 3, "FR": 4, "JP": 5, "CA": 6, "IT": 8, "ES": 9, "IN": 10, "MX": 11, "BR": 12}


def test_every_required_marketplace_is_listed() -> None:
    assert set(REQUIRED) <= set(MARKETPLACES)


@pytest.mark.parametrize("code", REQUIRED)
def test_marketplace_has_every_field_well_formed(code: str) -> None:
    m = get_marketplace(code)
    assert m.code == code
    assert re.fullmatch(r"www\.amazon\.[a-z.]+", m.host)
    assert re.fullmatch(r"A[0-9A-Z]{8,13}", m.spapi_marketplace_id)
    assert m.spapi_endpoint == f"https://sellingpartnerapi-{m.spapi_region}.amazon.com"
    cognito, lwa = m.creators_region_versions
    assert cognito.startswith("2.") and lwa.startswith("3.") and cognito[2:] == lwa[2:]
    assert re.fullmatch(r"[A-Z]{3}", m.currency)
    assert re.fullmatch(r"[a-z]{2}_[A-Z]{2}", m.locale)
    assert m.keepa_domain_id == KEEPA.get(code)


def test_marketplace_ids_and_hosts_are_unique() -> None:
    assert len({m.spapi_marketplace_id for m in MARKETPLACES.values()}) == len(MARKETPLACES)
    assert len({m.host for m in MARKETPLACES.values()}) == len(MARKETPLACES)


def test_france_matches_the_documented_values() -> None:
    fr = get_marketplace("fr")
    assert (fr.host, fr.spapi_marketplace_id, fr.currency) == ("www.amazon.fr", "A13V1IB3VIYZZH", "EUR")
    assert fr.creators_region_versions == ("2.2", "3.2")


def test_gb_is_an_alias_of_uk() -> None:
    assert get_marketplace("GB") is get_marketplace("UK")


def test_unknown_marketplace_error_lists_the_valid_codes() -> None:
    with pytest.raises(ValueError, match="Unknown marketplace 'XX'") as info:
        get_marketplace("XX")
    assert "FR" in str(info.value) and "US" in str(info.value)
