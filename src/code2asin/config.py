"""Settings, read from environment variables prefixed ``CODE2ASIN_`` (and an optional ``.env`` file).

Every setting is documented in ``.env.example``; a test fails when one is missing there. Settings are
grouped by concern; each group has its own prefix so the variable names stay the fixed ones of the
design (``CODE2ASIN_CREATORS_CREDENTIAL_ID``, ``CODE2ASIN_SPAPI_REFRESH_TOKEN``, ...).

Values are read as people type them: an empty variable means "unset" (so an unchanged copy of
``.env.example`` works), lists are ``a.com,b.com`` or JSON, and ``load_settings`` turns any invalid value
into one ``SettingsError`` sentence naming the variable, the value's problem and the expected form.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings import SettingsError as SourceError

from code2asin.config_forms import HttpUrl, describe_error, dotenv_names, host_entry, split_list
from code2asin.errors import Code2AsinError
from code2asin.providers.marketplaces import MARKETPLACES, get_marketplace
from code2asin.providers.stages import parse_plan

ENV_PREFIX = "CODE2ASIN_"
#: variables the tests use to find their servers; not settings of the product
_NOT_SETTINGS = ("CODE2ASIN_TEST_",)


class SettingsError(Code2AsinError):
    """A setting has a value Code2ASIN cannot use; the message is one sentence naming the variable."""


def _config(prefix: str) -> SettingsConfigDict:
    # env_ignore_empty: ``CODE2ASIN_WORKER_METRICS_PORT=`` (as in .env.example) means unset, not ''
    return SettingsConfigDict(env_prefix=prefix, env_file=".env", extra="ignore", env_ignore_empty=True)


class CreatorsStore(BaseModel):
    """One more Associates store: the Creators API serves a store's own marketplace only, with a tracking ID
    of that store, so a job on several marketplaces needs each one's tag (and its credential when the
    store has its own). Unset fields fall back to the ``CODE2ASIN_CREATORS_*`` ones."""

    model_config = ConfigDict(extra="forbid")

    credential_id: str | None = None
    credential_secret: SecretStr | None = None
    credential_version: str | None = None
    partner_tag: str | None = None
    token_url: str | None = None


_CREDENTIAL_VERSIONS = ("2.1", "2.2", "2.3", "3.1", "3.2", "3.3")


class CreatorsSettings(BaseSettings):
    """Amazon Creators API (affiliates)."""

    model_config = _config("CODE2ASIN_CREATORS_")

    credential_id: str | None = None
    credential_secret: SecretStr | None = None
    credential_version: str = Field(
        default="2.2", description="the version shown next to the credential: 2.1, 2.2, 2.3, 3.1, 3.2 or 3.3"
    )
    partner_tag: str | None = None
    api_url: HttpUrl = Field(default="https://creatorsapi.amazon", description="an http(s) URL")
    token_url: HttpUrl | None = Field(
        default=None, description="an http(s) URL, or empty for the credential version's endpoint"
    )
    requests_per_second: float = Field(default=1.0, gt=0, description="requests per second, e.g. 1.0")
    stores: Annotated[dict[str, CreatorsStore], NoDecode] = Field(
        default_factory=dict,
        description='JSON such as {"DE": {"partner_tag": "mystore0d-21"}}, or empty',
    )

    @field_validator("credential_version")
    @classmethod
    def _known_version(cls, version: str) -> str:
        if version.strip() not in _CREDENTIAL_VERSIONS:
            raise ValueError("is not a Creators credential version")
        return version.strip()

    @field_validator("stores", mode="before")
    @classmethod
    def _stores_json(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if not value.strip():
            return {}
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError("is not valid JSON") from None
        if not isinstance(parsed, dict):
            raise ValueError("is not a JSON object of marketplaces")
        return parsed

    @field_validator("stores")
    @classmethod
    def _known_marketplaces(cls, stores: dict[str, CreatorsStore]) -> dict[str, CreatorsStore]:
        known: dict[str, CreatorsStore] = {}
        for code, store in stores.items():
            try:
                known[get_marketplace(code).code] = store
            except ValueError:
                raise ValueError(f"names {code!r}, which is not a marketplace code") from None
        return known


class SpapiSettings(BaseSettings):
    """Amazon Selling Partner API (sellers): Catalog Items and Product Pricing."""

    model_config = _config("CODE2ASIN_SPAPI_")

    client_id: str | None = None
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = None
    api_url: HttpUrl | None = Field(
        default=None, description="an http(s) URL, or empty for the marketplace's regional endpoint"
    )
    token_url: HttpUrl = Field(default="https://api.amazon.com/auth/o2/token", description="an http(s) URL")
    catalog_requests_per_second: float = Field(default=2.0, gt=0, description="requests per second, e.g. 2")
    catalog_burst: int = Field(default=2, ge=1, description="a whole number of requests, e.g. 2")
    pricing_requests_per_second: float = Field(default=0.5, gt=0, description="requests per second, e.g. 0.5")


class KeepaSettings(BaseSettings):
    model_config = _config("CODE2ASIN_KEEPA_")

    api_key: SecretStr | None = None
    api_url: HttpUrl = Field(default="https://api.keepa.com", description="an http(s) URL")


class S3Settings(BaseSettings):
    model_config = _config("CODE2ASIN_S3_")

    endpoint_url: HttpUrl | None = Field(
        default=None, description="an http(s) URL such as http://minio:9000, or empty for AWS"
    )
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None


class WorkerSettings(BaseSettings):
    """Distributed mode (``CODE2ASIN_WORKER_*``), read by Celery workers, beat and dispatchers.

    * ``lease_seconds``: how long a worker owns a chunk without news. The runner renews the lease before
      every provider call, so a live chunk keeps it; a crashed worker's chunk is taken over about one
      lease after the crash: leases, not the broker, recover work.
    * ``sweep_seconds``: how often beat's sweeper runs (re-dispatch expired leases and due retries,
      complete finished jobs); it also wakes just after a running chunk's lease runs out.
    * ``takeover_threads``: threads of beat's process that run a lost worker's chunks as soon as their
      lease ends, instead of the chunks waiting for a free worker process (0: they only go back to the
      queue). One thread per chunk a worker can hold (its concurrency) covers any one lost worker.
    * ``soft_time_limit`` / ``time_limit``: a chunk task is interrupted, then killed, after this long.
    """

    model_config = _config("CODE2ASIN_WORKER_")

    lease_seconds: int = Field(default=120, ge=1, description="a whole number of seconds, e.g. 120")
    sweep_seconds: float = Field(default=30.0, gt=0, description="seconds, e.g. 30")
    takeover_threads: int = Field(default=4, ge=0, le=64, description="a whole number such as 4, or 0: off")
    soft_time_limit: int = Field(default=540, ge=1, description="a whole number of seconds, e.g. 540")
    time_limit: int = Field(default=600, ge=1, description="a whole number of seconds, e.g. 600")
    #: a port on which each worker serves its Prometheus metrics (None: off)
    metrics_port: int | None = Field(
        default=None, ge=1, le=65535, description="a port number such as 9100, or empty for off"
    )
    #: the address it listens on: loopback by default (the counters need no token, so opening them to a
    #: network is a choice: e.g. 0.0.0.0 behind a firewall that only lets the scraper in)
    metrics_addr: str = Field(default="127.0.0.1", description="an address such as 127.0.0.1 or 0.0.0.0")

    @field_validator("metrics_addr")
    @classmethod
    def _address(cls, value: str) -> str:
        return host_entry(value.strip()) if value.strip() else "127.0.0.1"


_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_DATABASE_SCHEMES = ("sqlite", "postgresql", "postgres", "postgresql+psycopg")
_BROKER_SCHEMES = ("redis", "rediss")


class Settings(BaseSettings):
    """All settings. Defaults run with nothing installed: SQLite and a local folder under ``data_dir``."""

    model_config = _config(ENV_PREFIX)

    data_dir: Path = Field(default=Path("./code2asin-data"), description="a folder path")
    #: default: SQLite file ``<data_dir>/code2asin.db``
    database_url: str | None = Field(
        default=None,
        description="postgresql://user:password@host:5432/name or sqlite:///path, or empty for SQLite in "
        "the data dir",
    )
    #: a Redis URL turns on distributed mode (Celery workers); empty = in-process pool
    broker_url: str | None = Field(
        default=None, description="redis://host:6379/0, or empty to run jobs in-process"
    )
    #: default: ``file://<data_dir>/storage``
    storage_url: str | None = Field(
        default=None, description="file:///path or s3://bucket[/prefix], or empty for the data dir"
    )
    marketplace: str = Field(default="FR", description=f"one of {', '.join(sorted(MARKETPLACES))}")
    #: ``sandbox``, ``creators``, ``spapi``, ``keepa`` or stages joined by ``+`` (``spapi+creators``)
    provider: str = Field(
        default="sandbox",
        description="sandbox, creators, spapi, keepa, or stages joined by + such as spapi+creators",
    )
    image_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="host names or host:port separated by commas, e.g. mirror.internal,cdn.local:8080",
    )
    #: webhook receivers allowed at private addresses ("host" or "host:port"), e.g. hooks.internal:8443
    webhook_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="host names or host:port separated by commas, e.g. hooks.internal:8443",
    )
    #: lookups cached across jobs: candidates for this many seconds (7 days), prices for 1 hour
    cache_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=0, description="a whole number of seconds")
    price_cache_ttl_seconds: int = Field(default=3600, ge=0, description="a whole number of seconds")
    #: matches below this confidence are reported but not accepted (status ``not_found``)
    confidence_threshold: float = Field(default=0.5, ge=0, le=1, description="a number from 0 to 1")
    #: input limits
    max_upload_bytes: int = Field(default=100 * 1024 * 1024, ge=1, description="a whole number of bytes")
    max_rows: int = Field(default=1_000_000, ge=1, description="a whole number of rows")
    max_columns: int = Field(default=500, ge=1, description="a whole number of columns")
    #: logging: level, and ``json`` (one object per line) or ``keyvalue``
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING, ERROR or CRITICAL")
    log_format: str = Field(default="json", description="json or keyvalue")
    #: signs the web UI's session cookies; empty: a key generated once under the data dir
    secret_key: SecretStr | None = Field(
        default=None, description="at least 16 random characters, or empty for a generated key"
    )
    #: shared secret of an upstream identity provider whose HS256 JWTs carry a ``permissions`` claim
    jwt_secret: SecretStr | None = None

    creators: CreatorsSettings = Field(default_factory=CreatorsSettings)
    spapi: SpapiSettings = Field(default_factory=SpapiSettings)
    keepa: KeepaSettings = Field(default_factory=KeepaSettings)
    s3: S3Settings = Field(default_factory=S3Settings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)

    @field_validator("data_dir")
    @classmethod
    def _folder(cls, value: Path) -> Path:
        if value.exists() and not value.is_dir():
            raise ValueError("is a file, not a folder")
        return value

    @field_validator("image_hosts", "webhook_hosts", mode="before")
    @classmethod
    def _list_as_typed(cls, value: Any) -> Any:
        return split_list(value)

    @field_validator("image_hosts", "webhook_hosts")
    @classmethod
    def _hosts(cls, hosts: list[str]) -> list[str]:
        return [host_entry(h.strip()) for h in hosts if h.strip()]

    @field_validator("marketplace")
    @classmethod
    def _marketplace(cls, value: str) -> str:
        try:
            return get_marketplace(value).code
        except ValueError:
            raise ValueError("is not a marketplace code") from None

    @field_validator("provider")
    @classmethod
    def _plan(cls, value: str) -> str:
        try:
            parse_plan(value)
        except Code2AsinError:
            raise ValueError("is not a provider plan") from None
        return value.strip().lower()

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value.strip()).scheme.lower() not in _DATABASE_SCHEMES:
            raise ValueError("is not a PostgreSQL or SQLite URL")
        return value.strip() if value else value

    @field_validator("broker_url")
    @classmethod
    def _broker(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value.strip()).scheme.lower() not in _BROKER_SCHEMES:
            raise ValueError("is not a Redis URL")
        return value.strip() if value else value

    @field_validator("storage_url")
    @classmethod
    def _storage(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme == "s3" and not parts.netloc:
            raise ValueError("names no bucket")
        if parts.scheme not in ("file", "s3"):
            raise ValueError("is neither a file:// nor an s3:// URL")
        return value.strip()

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        if value.strip().upper() not in _LOG_LEVELS:
            raise ValueError("is not a log level")
        return value.strip().upper()

    @field_validator("log_format")
    @classmethod
    def _format(cls, value: str) -> str:
        if value.strip().lower() not in ("json", "keyvalue"):
            raise ValueError("is not a log format")
        return value.strip().lower()

    @field_validator("secret_key")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().strip()) < 16:
            raise ValueError("is too short")
        return value

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'code2asin.db').resolve()}"

    @property
    def effective_storage_url(self) -> str:
        if self.storage_url:
            return self.storage_url
        return (self.data_dir / "storage").resolve().as_uri()


def setting_names(settings_cls: type[BaseSettings] = Settings) -> dict[str, tuple[type[BaseSettings], str]]:
    """Every variable name -> (its settings class, its field name)."""
    prefix = str(settings_cls.model_config.get("env_prefix", ""))
    names: dict[str, tuple[type[BaseSettings], str]] = {}
    for name, field in settings_cls.model_fields.items():
        factory = field.default_factory
        if isinstance(factory, type) and issubclass(factory, BaseSettings):
            names |= setting_names(factory)
        else:
            names[(prefix + name).upper()] = (settings_cls, name)
    return names


_GROUPS = (Settings, CreatorsSettings, SpapiSettings, KeepaSettings, S3Settings, WorkerSettings)


def load_settings(**values: Any) -> Settings:
    """Read the settings; raise ``SettingsError`` with one sentence when a value cannot be used."""
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise SettingsError(describe_error(exc, _GROUPS)) from None
    except SourceError as exc:  # a value the settings source itself could not decode
        raise SettingsError(f"A setting could not be read: {exc}.") from None


def unknown_variables(environ: Mapping[str, str] | None = None, dotenv: Path = Path(".env")) -> list[str]:
    """One warning per ``CODE2ASIN_*`` variable (environment or ``.env``) that is no setting (a typo)."""
    known = set(setting_names())
    seen = [*(environ if environ is not None else os.environ), *dotenv_names(dotenv)]
    warnings = []
    for name in dict.fromkeys(n.upper() for n in seen):
        if not name.startswith(ENV_PREFIX) or name.startswith(_NOT_SETTINGS) or name in known:
            continue
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        warnings.append(f"{name} is not a Code2ASIN setting and is ignored{hint}.")
    return warnings
