"""The UI's two languages: a small message catalogue (English and French) and the choice of language.

The language comes from the ``code2asin_lang`` cookie (set by the switch), else from the browser's
``Accept-Language`` (highest ``q`` among the supported ones), else English. ``Translator`` looks a key up
in the chosen language, falls back to English, and finally shows the key itself (never raises).
"""

from __future__ import annotations

from dataclasses import dataclass

from code2asin.web.messages_en import MESSAGES_EN
from code2asin.web.messages_fr import MESSAGES_FR

LANGUAGES = ("en", "fr")
DEFAULT_LANGUAGE = "en"
LANG_COOKIE = "code2asin_lang"

MESSAGES: dict[str, dict[str, str]] = {"en": MESSAGES_EN, "fr": MESSAGES_FR}


def _q(part: str) -> tuple[str, float]:
    lang, _, params = part.strip().partition(";")
    quality = 1.0
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name == "q":
            try:
                quality = float(value)
            except ValueError:
                quality = 0.0
    return lang.strip().lower(), quality


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The language to show: the cookie's when supported, else the best supported one the browser asks."""
    if cookie in LANGUAGES:
        return cookie
    best, best_q = DEFAULT_LANGUAGE, 0.0
    for part in (accept_language or "").split(",")[:20]:
        tag, quality = _q(part)
        primary = tag.split("-")[0]
        if primary in LANGUAGES and quality > best_q:
            best, best_q = primary, quality
    return best


@dataclass(frozen=True, slots=True)
class Translator:
    lang: str

    def __call__(self, key: str, **values: object) -> str:
        text = MESSAGES.get(self.lang, {}).get(key) or MESSAGES[DEFAULT_LANGUAGE].get(key, key)
        return text.format(**values) if values else text
