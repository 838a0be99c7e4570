"""Numbers as each UI language writes them (Babel's CLDR data): ``12 345``, ``97,3 %`` and ``5,19 €`` in
French, ``12,345``, ``97.3%`` and ``€5.19`` in English. Missing values are an em dash."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from babel import Locale
from babel.numbers import format_currency, format_decimal, format_percent
from jinja2 import pass_context

#: the CLDR locale each UI language formats numbers with
LOCALES = {"en": "en_US", "fr": "fr_FR"}
MISSING = "—"
Number = int | float | Decimal


def _locale(lang: str) -> str:
    return LOCALES.get(lang, LOCALES["en"])


def number(value: Number | None, lang: str, digits: int | None = None) -> str:
    """A count (``digits`` None: no decimals) or a decimal with exactly ``digits`` decimals."""
    if value is None:
        return MISSING
    if digits is None:
        return format_decimal(int(value), locale=_locale(lang))
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value, format=pattern, locale=_locale(lang))


def percent(value: Number | None, lang: str, digits: int = 1, signed: bool = False) -> str:
    """``value`` given in percent (``97.3``) written the locale's way (``97,3 %``), ``signed`` adds ``+``."""
    if value is None:
        return MISSING
    pattern = str(Locale.parse(_locale(lang)).percent_formats[None].pattern)
    pattern = pattern.replace("0", "0." + "0" * digits, 1) if digits else pattern
    text = format_percent(Decimal(str(value)) / 100, format=pattern, locale=_locale(lang))
    return f"+{text}" if signed and value > 0 else text


def money(value: Number | None, currency: str | None, lang: str) -> str:
    """A price in its currency (``5,19 €``, ``€5.19``); without a currency, the bare amount."""
    if value is None:
        return MISSING
    if not currency:
        return number(value, lang, 2)
    return format_currency(value, currency, locale=_locale(lang))


def install(filters: dict[str, Any]) -> None:
    """The Jinja filters ``num``, ``dec(2)``, ``pct(scale)``, ``spct`` and ``money(currency)``: each reads
    the page's ``lang``; ``duration`` writes seconds as ``1 min 35 s``."""

    @pass_context
    def num(ctx: Any, value: Number | None) -> str:
        return number(value or 0, ctx.get("lang", "en"))

    @pass_context
    def dec(ctx: Any, value: Number | None, digits: int = 2) -> str:
        return number(value, ctx.get("lang", "en"), digits)

    @pass_context
    def pct(ctx: Any, value: Number | None, scale: float = 1.0) -> str:
        return percent(None if value is None else float(value) * scale, ctx.get("lang", "en"))

    @pass_context
    def spct(ctx: Any, value: Number | None) -> str:
        return percent(value, ctx.get("lang", "en"), signed=True)

    @pass_context
    def to_money(ctx: Any, value: Number | None, currency: str | None = None) -> str:
        return money(value, currency, ctx.get("lang", "en"))

    def duration(value: Number | None) -> str:
        from code2asin.jobs.estimate import format_duration  # "1 min 35 s" reads the same in en and fr

        return format_duration(float(value or 0))

    filters.update(num=num, dec=dec, pct=pct, spct=spct, money=to_money, duration=duration)
