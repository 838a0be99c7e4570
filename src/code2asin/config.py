"""Settings, read from environment variables prefixed ``CODE2ASIN_`` (and an optional ``.env`` file).

Every setting is documented in ``.env.example``; a test fails when one is missing there. Settings are
grouped by concern; each group has its own prefix so the variable names stay the fixed ones of the
design (``CODE2ASIN_CREATORS_CREDENTIAL_ID``, ``CODE2ASIN_SPAPI_REFRESH_TOKEN``, ...).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, env_file=".env", extra="ignore")


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


class CreatorsSettings(BaseSettings):
    """Amazon Creators API (affiliates)."""

    # an empty variable (``CODE2ASIN_CREATORS_STORES=``) means unset, not a JSON syntax error
    model_config = SettingsConfigDict(**_config("CODE2ASIN_CREATORS_"), env_ignore_empty=True)

    credential_id: str | None = None
    credential_secret: SecretStr | None = None
    #: "2.1"/"2.2"/"2.3" (Cognito) or "3.1"/"3.2"/"3.3" (Login with Amazon)
    credential_version: str = "2.2"
    partner_tag: str | None = None
    api_url: str = "https://creatorsapi.amazon"
    #: default: the token endpoint of the credential version
    token_url: str | None = None
    requests_per_second: float = 1.0
    #: other marketplaces' stores, as JSON: {"DE": {"partner_tag": "mystore0d-21"}, "IT": {...}}
    stores: dict[str, CreatorsStore] = Field(default_factory=dict)

    @field_validator("stores")
    @classmethod
    def _known_marketplaces(cls, stores: dict[str, CreatorsStore]) -> dict[str, CreatorsStore]:
        from code2asin.providers.marketplaces import get_marketplace

        return {get_marketplace(code).code: store for code, store in stores.items()}


class SpapiSettings(BaseSettings):
    """Amazon Selling Partner API (sellers): Catalog Items and Product Pricing."""

    model_config = _config("CODE2ASIN_SPAPI_")

    client_id: str | None = None
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = None
    #: default: the marketplace's regional endpoint
    api_url: str | None = None
    token_url: str = "https://api.amazon.com/auth/o2/token"
    catalog_requests_per_second: float = 2.0
    catalog_burst: int = 2
    pricing_requests_per_second: float = 0.5


class KeepaSettings(BaseSettings):
    model_config = _config("CODE2ASIN_KEEPA_")

    api_key: SecretStr | None = None
    api_url: str = "https://api.keepa.com"


class S3Settings(BaseSettings):
    model_config = _config("CODE2ASIN_S3_")

    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None


class WorkerSettings(BaseSettings):
    """Distributed mode (``CODE2ASIN_WORKER_*``), read by Celery workers, beat and dispatchers.

    * ``lease_seconds``: how long a worker owns a chunk without news. The runner renews the lease before
      every provider call, so a live chunk keeps it; a crashed worker's chunk is taken over about one
      lease (plus one sweep) after the crash. This, not the broker's visibility timeout, is what
      recovers work quickly.
    * ``sweep_seconds``: how often beat sends ``code2asin.sweep`` (re-dispatch expired leases and due
      retries, complete finished jobs).
    * ``soft_time_limit`` / ``time_limit``: a chunk task is interrupted, then killed, after this long.
    * ``visibility_timeout``: seconds before Redis hands an unacknowledged message to another worker;
      longer than ``time_limit`` so a slow chunk is never delivered twice by the broker itself.
    """

    model_config = _config("CODE2ASIN_WORKER_")

    lease_seconds: int = Field(default=120, ge=1)
    sweep_seconds: float = Field(default=30.0, gt=0)
    soft_time_limit: int = Field(default=540, ge=1)
    time_limit: int = Field(default=600, ge=1)
    visibility_timeout: int = Field(default=3600, ge=1)
    #: a port on which each worker serves its Prometheus metrics (None: off)
    metrics_port: int | None = None
    #: the address it listens on: loopback by default (the counters need no token, so opening them to a
    #: network is a choice: e.g. 0.0.0.0 behind a firewall that only lets the scraper in)
    metrics_addr: str = "127.0.0.1"


class Settings(BaseSettings):
    """All settings. Defaults run with nothing installed: SQLite and a local folder under ``data_dir``."""

    model_config = _config("CODE2ASIN_")

    data_dir: Path = Path("./code2asin-data")
    #: default: SQLite file ``<data_dir>/code2asin.db``
    database_url: str | None = None
    #: a Redis URL turns on distributed mode (Celery workers); empty = in-process pool
    broker_url: str | None = None
    #: default: ``file://<data_dir>/storage``
    storage_url: str | None = None
    marketplace: str = "FR"
    #: ``sandbox``, ``creators``, ``spapi``, ``keepa`` or stages joined by ``+`` (``spapi+creators``)
    provider: str = "sandbox"
    image_hosts: list[str] = Field(default_factory=list)
    #: webhook receivers allowed at private addresses ("host" or "host:port"), e.g. ["hooks.internal:8443"]
    webhook_hosts: list[str] = Field(default_factory=list)
    #: lookups cached across jobs: candidates for this many seconds (7 days), prices for 1 hour
    cache_ttl_seconds: int = 7 * 24 * 3600
    price_cache_ttl_seconds: int = 3600
    #: matches below this confidence are reported but not accepted (status ``not_found``)
    confidence_threshold: float = 0.5
    #: input limits
    max_upload_bytes: int = 100 * 1024 * 1024
    max_rows: int = 1_000_000
    max_columns: int = 500
    #: logging: level, and ``json`` (one object per line) or ``keyvalue``
    log_level: str = "INFO"
    log_format: str = "json"
    #: signs the web UI's session cookies; empty: a key generated once under the data dir
    secret_key: SecretStr | None = None
    #: shared secret of an upstream identity provider whose HS256 JWTs carry a ``permissions`` claim
    jwt_secret: SecretStr | None = None

    creators: CreatorsSettings = Field(default_factory=CreatorsSettings)
    spapi: SpapiSettings = Field(default_factory=SpapiSettings)
    keepa: KeepaSettings = Field(default_factory=KeepaSettings)
    s3: S3Settings = Field(default_factory=S3Settings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)

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
