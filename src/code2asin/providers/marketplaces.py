"""Amazon marketplaces: the reference data every provider needs for one country.

Sources: the Creators API documentation (https://affiliate-program.amazon.com/creatorsapi/docs/en-us/,
"common request headers and parameters" for the ``x-marketplace`` hosts and regions; the credential
versions per region in the SDK's ``auth/oauth2_config.py``), SP-API's marketplace ids and regional
endpoints (https://developer-docs.amazon.com/sp-api/docs/sp-api-endpoints), Keepa's domain ids
(``AmazonLocale.java`` in https://github.com/keepacom/api_backend). Currencies are each country's legal
tender. Locales are the Creators/PA-API default ``languagesOfPreference`` of the documentation's locale
pages where they are given (FR, DE, IT, JP, IN, EG, IE, PL); the others follow the same
``language_COUNTRY`` pattern and are not used in requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SpapiRegion = Literal["na", "eu", "fe"]

SPAPI_ENDPOINTS: dict[str, str] = {
    "na": "https://sellingpartnerapi-na.amazon.com",
    "eu": "https://sellingpartnerapi-eu.amazon.com",
    "fe": "https://sellingpartnerapi-fe.amazon.com",
}

#: Creators credential versions (Cognito 2.x, Login with Amazon 3.x) that serve each SP-API region.
CREATORS_VERSIONS: dict[str, tuple[str, str]] = {
    "na": ("2.1", "3.1"),
    "eu": ("2.2", "3.2"),
    "fe": ("2.3", "3.3"),
}


@dataclass(frozen=True, slots=True)
class Marketplace:
    """One Amazon marketplace.

    ``code`` is the two-letter code users type (``FR``; ``UK`` for Great Britain), ``host`` the
    Creators ``x-marketplace`` value, ``creators_region_versions`` the (Cognito, LwA) credential
    versions valid there, ``keepa_domain_id`` ``None`` where Keepa has no data.
    """

    code: str
    host: str
    spapi_marketplace_id: str
    spapi_region: SpapiRegion
    currency: str
    locale: str
    keepa_domain_id: int | None = None

    @property
    def spapi_endpoint(self) -> str:
        return SPAPI_ENDPOINTS[self.spapi_region]

    @property
    def creators_region_versions(self) -> tuple[str, str]:
        return CREATORS_VERSIONS[self.spapi_region]


MARKETPLACES: dict[str, Marketplace] = {
    m.code: m
    for m in (
        Marketplace("US", "www.amazon.com", "ATVPDKIKX0DER", "na", "USD", "en_US", 1),
        Marketplace("CA", "www.amazon.ca", "A2EUQ1WTGCTBG2", "na", "CAD", "en_CA", 6),
        Marketplace("MX", "www.amazon.com.mx", "A1AM78C64UM0Y8", "na", "MXN", "es_MX", 11),
        Marketplace("BR", "www.amazon.com.br", "A2Q3Y263D00KWC", "na", "BRL", "pt_BR", 12),
        Marketplace("UK", "www.amazon.co.uk", "A1F83G8C2ARO7P", "eu", "GBP", "en_GB", 2),
        Marketplace("DE", "www.amazon.de", "A1PA6795UKMFR9", "eu", "EUR", "de_DE", 3),
        Marketplace("FR", "www.amazon.fr", "A13V1IB3VIYZZH", "eu", "EUR", "fr_FR", 4),
        Marketplace("IT", "www.amazon.it", "APJ6JRA9NG5V4", "eu", "EUR", "it_IT", 8),
        Marketplace("ES", "www.amazon.es", "A1RKKUPIHCS9HS", "eu", "EUR", "es_ES", 9),
        Marketplace("NL", "www.amazon.nl", "A1805IZSGTT6HS", "eu", "EUR", "nl_NL"),
        Marketplace("BE", "www.amazon.com.be", "AMEN7PMS3EDWL", "eu", "EUR", "fr_BE"),
        Marketplace("PL", "www.amazon.pl", "A1C3SOZRARQ6R3", "eu", "PLN", "pl_PL"),
        Marketplace("SE", "www.amazon.se", "A2NODRKZP88ZB9", "eu", "SEK", "sv_SE"),
        Marketplace("IE", "www.amazon.ie", "A28R8C7NBKEWEA", "eu", "EUR", "en_IE"),
        Marketplace("TR", "www.amazon.com.tr", "A33AVAJ2PDY3EV", "eu", "TRY", "tr_TR"),
        Marketplace("AE", "www.amazon.ae", "A2VIGQ35RCS4UG", "eu", "AED", "en_AE"),
        Marketplace("SA", "www.amazon.sa", "A17E79C6D8DWNP", "eu", "SAR", "en_AE"),
        Marketplace("EG", "www.amazon.eg", "ARBP9OOSHTCHU", "eu", "EGP", "en_AE"),
        Marketplace("IN", "www.amazon.in", "A21TJRUUN4KGV", "eu", "INR", "en_IN", 10),
        Marketplace("JP", "www.amazon.co.jp", "A1VC38T7YXB528", "fe", "JPY", "ja_JP", 5),
        Marketplace("AU", "www.amazon.com.au", "A39IBJ37TRP1C6", "fe", "AUD", "en_AU"),
        Marketplace("SG", "www.amazon.sg", "A19VAU5U5O7RUS", "fe", "SGD", "en_SG"),
    )
}

#: Common spellings that mean a listed marketplace.
_ALIASES = {"GB": "UK"}


#: Keepa domain id (its ``AmazonLocale`` ordinal; 7 = cn is reserved) -> marketplace code
KEEPA_DOMAINS: dict[int, str] = {
    m.keepa_domain_id: m.code for m in MARKETPLACES.values() if m.keepa_domain_id is not None
}


def by_keepa_domain(domain_id: int) -> Marketplace:
    """The marketplace of a Keepa domain id; raises ``ValueError`` for an id Keepa does not serve."""
    try:
        return MARKETPLACES[KEEPA_DOMAINS[domain_id]]
    except KeyError:
        raise ValueError(f"Keepa has no domain {domain_id}: use one of {sorted(KEEPA_DOMAINS)}.") from None


def get_marketplace(code: str) -> Marketplace:
    """Return the marketplace for ``code`` (case-insensitive, ``GB`` = ``UK``).

    Raises ``ValueError`` naming the valid codes when ``code`` is unknown.
    """
    key = code.strip().upper()
    key = _ALIASES.get(key, key)
    try:
        return MARKETPLACES[key]
    except KeyError:
        valid = ", ".join(sorted(MARKETPLACES))
        raise ValueError(f"Unknown marketplace {code!r}: use one of {valid}.") from None
