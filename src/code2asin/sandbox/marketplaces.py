"""Marketplaces the sandbox knows: Creators ``x-marketplace`` host, SP-API marketplace id, money, locale."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Marketplace:
    country: str
    host: str  # the Creators API x-marketplace value
    marketplace_id: str  # SP-API marketplace id
    region: str  # NA | EU | FE (Creators credential version 2.1/3.1, 2.2/3.2, 2.3/3.3)
    currency: str
    locale: str
    rate: float  # value of 1 EUR in the local currency (sandbox prices only)


MARKETPLACES: tuple[Marketplace, ...] = (
    Marketplace("FR", "www.amazon.fr", "A13V1IB3VIYZZH", "EU", "EUR", "fr_FR", 1.0),
    Marketplace("DE", "www.amazon.de", "A1PA6795UKMFR9", "EU", "EUR", "de_DE", 0.97),
    Marketplace("IT", "www.amazon.it", "APJ6JRA9NG5V4", "EU", "EUR", "it_IT", 1.02),
    Marketplace("ES", "www.amazon.es", "A1RKKUPIHCS9HS", "EU", "EUR", "es_ES", 0.99),
    Marketplace("UK", "www.amazon.co.uk", "A1F83G8C2ARO7P", "EU", "GBP", "en_GB", 0.86),
    Marketplace("NL", "www.amazon.nl", "A1805IZSGTT6HS", "EU", "EUR", "nl_NL", 1.01),
    Marketplace("BE", "www.amazon.com.be", "AMEN7PMS3EDWL", "EU", "EUR", "fr_BE", 1.0),
    Marketplace("IE", "www.amazon.ie", "A28R8C7NBKEWEA", "EU", "EUR", "en_IE", 1.03),
    Marketplace("PL", "www.amazon.pl", "A1C3SOZRARQ6R3", "EU", "PLN", "pl_PL", 4.3),
    Marketplace("SE", "www.amazon.se", "A2NODRKZP88ZB9", "EU", "SEK", "sv_SE", 11.4),
    Marketplace("TR", "www.amazon.com.tr", "A33AVAJ2PDY3EV", "EU", "TRY", "tr_TR", 35.0),
    Marketplace("AE", "www.amazon.ae", "A2VIGQ35RCS4UG", "EU", "AED", "en_AE", 4.0),
    Marketplace("SA", "www.amazon.sa", "A17E79C6D8DWNP", "EU", "SAR", "en_AE", 4.1),
    Marketplace("EG", "www.amazon.eg", "ARBP9OOSHTCHU", "EU", "EGP", "en_AE", 53.0),
    Marketplace("IN", "www.amazon.in", "A21TJRUUN4KGV", "EU", "INR", "en_IN", 91.0),
    Marketplace("US", "www.amazon.com", "ATVPDKIKX0DER", "NA", "USD", "en_US", 1.08),
    Marketplace("CA", "www.amazon.ca", "A2EUQ1WTGCTBG2", "NA", "CAD", "en_CA", 1.48),
    Marketplace("MX", "www.amazon.com.mx", "A1AM78C64UM0Y8", "NA", "MXN", "es_MX", 19.5),
    Marketplace("BR", "www.amazon.com.br", "A2Q3Y263D00KWC", "NA", "BRL", "pt_BR", 5.9),
    Marketplace("JP", "www.amazon.co.jp", "A1VC38T7YXB528", "FE", "JPY", "ja_JP", 162.0),
    Marketplace("AU", "www.amazon.com.au", "A39IBJ37TRP1C6", "FE", "AUD", "en_AU", 1.65),
    Marketplace("SG", "www.amazon.sg", "A19VAU5U5O7RUS", "FE", "SGD", "en_SG", 1.45),
)

BY_HOST: dict[str, Marketplace] = {m.host: m for m in MARKETPLACES}
BY_ID: dict[str, Marketplace] = {m.marketplace_id: m for m in MARKETPLACES}
BY_COUNTRY: dict[str, Marketplace] = {m.country: m for m in MARKETPLACES}
#: Creators credential version minor number -> region whose marketplaces it may query
VERSION_REGIONS: dict[str, str] = {"1": "NA", "2": "EU", "3": "FE"}

_SYMBOLS = {"EUR": "€", "GBP": "£", "USD": "$", "CAD": "$", "AUD": "$", "SGD": "$", "JPY": "￥"}


def display_amount(amount: float, currency: str) -> str:
    """Format money the way the marketplace's site shows it (``12,99 €``, ``£12.99``, ``$12.99``)."""
    if currency == "EUR":
        return f"{amount:.2f}".replace(".", ",") + " €"
    if currency == "JPY":
        return f"￥{amount:,.0f}"
    symbol = _SYMBOLS.get(currency)
    if symbol is None:
        return f"{amount:.2f} {currency}"
    return f"{symbol}{amount:,.2f}"


def local_price(amount_eur: float, marketplace: Marketplace) -> float:
    """Convert a sandbox euro base price to the marketplace currency, ending in .x9 like shelf prices."""
    value = amount_eur * marketplace.rate
    if marketplace.currency == "JPY":
        return float(round(value))
    cents = round(value * 100)
    cents = max(9, cents - cents % 10 + 9)
    return cents / 100
