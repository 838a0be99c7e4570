"""The forms settings are typed in, and the one sentence that names a setting's problem (pure).

``split_list`` reads lists as people type them (``a.com,b.com``, spaces, empty, or JSON); ``host_entry``
and ``http_url`` check hosts and base URLs; ``describe_error`` turns a pydantic ``ValidationError`` of a
settings group into "CODE2ASIN_X='value' is ...: use ...".
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, ValidationError
from pydantic_settings import BaseSettings

_HOST_RE = re.compile(r"^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*$", re.I)


def split_list(value: Any) -> Any:
    """``a.com,b.com`` / `` a.com , b.com `` / ``["a.com"]`` / empty -> a list of strings."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        return []
    if re.match(r"\[\s*([\"\]]|$)", text):  # JSON, not an IPv6 address such as [::1]:8700
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            raise ValueError("is not a valid JSON list") from None
        if not isinstance(parsed, list) or not all(isinstance(v, str) for v in parsed):
            raise ValueError("is not a list of names")
        return [v.strip() for v in parsed if v.strip()]
    return [part.strip() for part in text.split(",") if part.strip()]


def host_entry(entry: str) -> str:
    """``host`` or ``host:port`` (an IPv6 address in brackets); returns it lower-cased."""
    parts = urlsplit("//" + entry)
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"has {entry!r}, whose port is not a number from 1 to 65535") from None
    host = parts.hostname or ""
    if (
        "/" in entry
        or "@" in entry
        or not host
        or (port is not None and not 1 <= port <= 65535)
        or not (_HOST_RE.match(host) or ":" in host)
    ):
        raise ValueError(f"has {entry!r}, which is not a host name or host:port")
    return entry.lower()


def http_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("is not an http(s) URL")
    return value.strip().rstrip("/")


#: an http(s) base URL (provider endpoints, the S3 endpoint)
HttpUrl = Annotated[str, AfterValidator(http_url)]


SECRET_FIELDS = {
    "credential_secret",
    "client_secret",
    "refresh_token",
    "api_key",
    "secret_access_key",
    "secret_key",
    "jwt_secret",
}

PROBLEMS = {
    "int_parsing": "is not a whole number",
    "int_from_float": "is not a whole number",
    "float_parsing": "is not a number",
    "greater_than_equal": "is too small",
    "greater_than": "is too small",
    "less_than_equal": "is too large",
    "less_than": "is too large",
    "finite_number": "is not a finite number",
    "bool_parsing": "is not true or false",
    "extra_forbidden": "is not a known field",
    "string_type": "is not text",
    "model_type": "is not a JSON object",
}


def describe_error(exc: ValidationError, groups: Iterable[type[BaseSettings]]) -> str:
    """One sentence for the first problem of ``exc``: the variable, its value (hidden for secrets), what
    is wrong, and the expected form (the field's description)."""
    classes = {cls.__name__: cls for cls in groups}
    settings_cls = classes.get(exc.title) or next(iter(classes.values()))
    prefix = str(settings_cls.model_config.get("env_prefix", ""))
    errors = exc.errors(include_url=False)
    first = errors[0]
    field_name = str(first["loc"][0]) if first["loc"] else ""
    variable = (prefix + field_name).upper()
    field = settings_cls.model_fields.get(field_name)
    shown = "(hidden)" if field_name in SECRET_FIELDS else repr(first.get("input"))
    if isinstance(first.get("input"), (dict, list)):
        shown = json.dumps(first["input"])[:80]
    if first["type"] == "value_error":
        problem = str(first.get("ctx", {}).get("error") or first["msg"]).removeprefix("Value error, ")
    else:
        problem = PROBLEMS.get(first["type"], first["msg"][:1].lower() + first["msg"][1:])
    expected = (field.description if field is not None else None) or "another value"
    more = (
        f" ({len(errors) - 1} more problem{'s' if len(errors) > 2 else ''} in the same setting)"
        if (len(errors) > 1)
        else ""
    )
    if len(first["loc"]) > 1:  # inside a JSON value: name the place
        place = ".".join(str(part) for part in first["loc"][1:])
        return f"{variable} has {place}={shown}, which {problem}: use {expected}{more}."
    return f"{variable}={shown} {problem}: use {expected}{more}."


def dotenv_names(path: Path) -> Iterable[str]:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ()
    names = []
    for line in lines:
        text = line.strip()
        if text and not text.startswith("#") and "=" in text:
            names.append(text.split("=", 1)[0].removeprefix("export ").strip())
    return names
