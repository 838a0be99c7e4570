from __future__ import annotations

from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from code2asin.config import Settings, SettingsError, load_settings, setting_names, unknown_variables

REPO_ROOT = Path(__file__).resolve().parents[1]


def _env_names(settings_cls: type[BaseSettings]) -> set[str]:
    prefix = str(settings_cls.model_config.get("env_prefix", ""))
    names: set[str] = set()
    for name, field in settings_cls.model_fields.items():
        default_factory = field.default_factory
        if isinstance(default_factory, type) and issubclass(default_factory, BaseSettings):
            names |= _env_names(default_factory)
        else:
            names.add((prefix + name).upper())
    return names


def test_every_setting_is_documented_in_env_example() -> None:
    documented = {
        line.split("=", 1)[0].strip()
        for line in (REPO_ROOT / ".env.example").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    missing = _env_names(Settings) - documented
    assert not missing, f"undocumented settings: {sorted(missing)}"
    unknown = documented - _env_names(Settings)
    assert not unknown, f".env.example names settings that do not exist: {sorted(unknown)}"


def test_defaults_run_embedded_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.effective_database_url == f"sqlite:///{tmp_path.resolve()}/code2asin.db"
    assert settings.effective_storage_url == (tmp_path / "storage").resolve().as_uri()
    assert settings.broker_url is None


def test_nested_settings_read_the_fixed_variable_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODE2ASIN_CREATORS_CREDENTIAL_SECRET", "s3cr3t")
    monkeypatch.setenv("CODE2ASIN_SPAPI_REFRESH_TOKEN", "Atzr|x")
    settings = Settings()
    assert settings.creators.credential_secret is not None
    assert settings.creators.credential_secret.get_secret_value() == "s3cr3t"
    assert "s3cr3t" not in repr(settings)
    assert settings.spapi.refresh_token is not None


def test_other_associates_stores_are_read_as_json_per_marketplace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODE2ASIN_CREATORS_PARTNER_TAG", "mystore-21")
    monkeypatch.setenv(
        "CODE2ASIN_CREATORS_STORES",
        '{"de": {"partner_tag": "mystore0d-21"}, '
        '"GB": {"credential_id": "uk-id", "credential_secret": "uk-s"}}',
    )
    from code2asin.providers.plan import Endpoints

    settings = Settings()
    assert set(settings.creators.stores) == {"DE", "UK"}
    assert "uk-s" not in repr(settings.creators)  # the secret stays hidden
    endpoints = Endpoints.from_settings(settings)
    german, british = endpoints.for_marketplace("DE"), endpoints.for_marketplace("uk")
    assert german.partner_tag == "mystore0d-21" and german.creators_id == endpoints.creators_id
    assert british.creators_id == "uk-id" and british.creators_secret == "uk-s"
    assert british.partner_tag == "mystore-21"  # unset in the store: the default one
    assert endpoints.for_marketplace("FR") is endpoints


def test_an_unknown_store_marketplace_is_refused_and_an_empty_value_means_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CODE2ASIN_CREATORS_STORES", '{"XX": {"partner_tag": "t-21"}}')
    with pytest.raises(SettingsError, match=r"STORES=.* names 'XX', which is not a marketplace"):
        load_settings()
    monkeypatch.setenv("CODE2ASIN_CREATORS_STORES", "")
    assert Settings().creators.stores == {}


# -- values as people type them (issue 12) ----------------------------------------------------------------


def test_an_unchanged_copy_of_env_example_loads_as_the_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CODE2ASIN_DATA_DIR")
    (tmp_path / ".env").write_text((REPO_ROOT / ".env.example").read_text())
    loaded = load_settings()
    (tmp_path / ".env").unlink()
    defaults = load_settings()
    assert loaded.model_dump() == defaults.model_dump()
    assert loaded.worker.metrics_port is None and loaded.image_hosts == []


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("a.com", ["a.com"]),
        ("a.com,b.com", ["a.com", "b.com"]),
        (" a.com , B.com:8080 ,", ["a.com", "b.com:8080"]),
        ("", []),
        ("  ", []),
        ('["a.com", "b.com:8080"]', ["a.com", "b.com:8080"]),
        ("[]", []),
        ("127.0.0.1:8700", ["127.0.0.1:8700"]),
        ("[::1]:8700", ["[::1]:8700"]),
    ],
)
@pytest.mark.parametrize("variable", ["CODE2ASIN_IMAGE_HOSTS", "CODE2ASIN_WEBHOOK_HOSTS"])
def test_list_settings_accept_what_people_type(
    monkeypatch: pytest.MonkeyPatch, variable: str, typed: str, expected: list[str]
) -> None:
    monkeypatch.setenv(variable, typed)
    settings = load_settings()
    assert getattr(settings, variable.removeprefix("CODE2ASIN_").lower()) == expected


#: a bad value for every setting whose form can be wrong; None: any text is a valid value (names, secrets)
BAD_VALUES: dict[str, str | None] = {
    "CODE2ASIN_DATA_DIR": "<a file>",
    "CODE2ASIN_DATABASE_URL": "mysql://root@localhost/code2asin",
    "CODE2ASIN_BROKER_URL": "amqp://guest@localhost//",
    "CODE2ASIN_STORAGE_URL": "ftp://files.example.com/images",
    "CODE2ASIN_MARKETPLACE": "France",
    "CODE2ASIN_PROVIDER": "paapi",
    "CODE2ASIN_IMAGE_HOSTS": "https://images.example.com/",
    "CODE2ASIN_WEBHOOK_HOSTS": '["hooks.example.com",',
    "CODE2ASIN_CACHE_TTL_SECONDS": "a week",
    "CODE2ASIN_PRICE_CACHE_TTL_SECONDS": "-5",
    "CODE2ASIN_CONFIDENCE_THRESHOLD": "80%",
    "CODE2ASIN_MAX_UPLOAD_BYTES": "100MB",
    "CODE2ASIN_MAX_ROWS": "0",
    "CODE2ASIN_MAX_COLUMNS": "1.5",
    "CODE2ASIN_LOG_LEVEL": "LOUD",
    "CODE2ASIN_LOG_FORMAT": "xml",
    "CODE2ASIN_SECRET_KEY": "hunter2",
    "CODE2ASIN_JWT_SECRET": None,
    "CODE2ASIN_CREATORS_CREDENTIAL_ID": None,
    "CODE2ASIN_CREATORS_CREDENTIAL_SECRET": None,
    "CODE2ASIN_CREATORS_CREDENTIAL_VERSION": "2",
    "CODE2ASIN_CREATORS_PARTNER_TAG": None,
    "CODE2ASIN_CREATORS_API_URL": "creatorsapi.amazon",
    "CODE2ASIN_CREATORS_TOKEN_URL": "ftp://token",
    "CODE2ASIN_CREATORS_REQUESTS_PER_SECOND": "0",
    "CODE2ASIN_CREATORS_STORES": "DE=mystore0d-21",
    "CODE2ASIN_SPAPI_CLIENT_ID": None,
    "CODE2ASIN_SPAPI_CLIENT_SECRET": None,
    "CODE2ASIN_SPAPI_REFRESH_TOKEN": None,
    "CODE2ASIN_SPAPI_API_URL": "sellingpartnerapi-eu.amazon.com",
    "CODE2ASIN_SPAPI_TOKEN_URL": "not a url",
    "CODE2ASIN_SPAPI_CATALOG_REQUESTS_PER_SECOND": "fast",
    "CODE2ASIN_SPAPI_CATALOG_BURST": "0",
    "CODE2ASIN_SPAPI_PRICING_REQUESTS_PER_SECOND": "-1",
    "CODE2ASIN_KEEPA_API_KEY": None,
    "CODE2ASIN_KEEPA_API_URL": "api.keepa.com",
    "CODE2ASIN_S3_ENDPOINT_URL": "minio:9000",
    "CODE2ASIN_S3_REGION": None,
    "CODE2ASIN_S3_ACCESS_KEY_ID": None,
    "CODE2ASIN_S3_SECRET_ACCESS_KEY": None,
    "CODE2ASIN_WORKER_LEASE_SECONDS": "2m",
    "CODE2ASIN_WORKER_SWEEP_SECONDS": "0",
    "CODE2ASIN_WORKER_TAKEOVER_THREADS": "four",
    "CODE2ASIN_WORKER_SOFT_TIME_LIMIT": "none",
    "CODE2ASIN_WORKER_TIME_LIMIT": "0",
    "CODE2ASIN_WORKER_METRICS_PORT": "70000",
    "CODE2ASIN_WORKER_METRICS_ADDR": "http://0.0.0.0",
}


def test_the_bad_value_table_covers_every_setting() -> None:
    assert set(BAD_VALUES) == set(setting_names())


@pytest.mark.parametrize("variable", sorted(k for k, v in BAD_VALUES.items() if v is not None))
def test_every_invalid_setting_is_one_sentence_and_exit_code_2(
    variable: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from code2asin import cli

    value = BAD_VALUES[variable]
    assert value is not None
    if value == "<a file>":
        (tmp_path / "not-a-folder").write_text("x")
        value = str(tmp_path / "not-a-folder")
    monkeypatch.setenv(variable, value)
    source = tmp_path / "codes.csv"
    source.write_text("EAN\n3017620422003\n")
    monkeypatch.setattr("sys.argv", ["code2asin", "check", str(source)])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 2
    stderr = capsys.readouterr().err.strip()
    assert stderr.count("\n") == 0, stderr  # one line
    assert stderr.startswith(f"Error: {variable}"), stderr
    assert ": use " in stderr and stderr.endswith("."), stderr  # the problem, then the expected form
    assert "Traceback" not in stderr and "validation error" not in stderr


def test_a_secret_setting_is_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODE2ASIN_SECRET_KEY", "shortpass")
    with pytest.raises(SettingsError) as refused:
        load_settings()
    assert "shortpass" not in str(refused.value) and "(hidden)" in str(refused.value)


@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["worker"], ["beat"], ["db", "upgrade"]])
def test_service_commands_refuse_a_bad_setting_in_one_line(command: list[str], tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("CODE2ASIN_")}
    env |= {"CODE2ASIN_DATA_DIR": str(tmp_path / "data"), "CODE2ASIN_WORKER_METRICS_PORT": "metrics"}
    done = subprocess.run(
        [sys.executable, "-m", "code2asin", *command],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "Error: CODE2ASIN_WORKER_METRICS_PORT='metrics' is not a whole number: use a port number such as "
        "9100, or empty for off."
    )


def test_a_mistyped_variable_is_a_warning_with_the_likely_name(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("CODE2ASIN_MARKETPLAC=DE\n# CODE2ASIN_COMMENTED=1\n")
    warnings = unknown_variables({"CODE2ASIN_TEST_POSTGRES_URL": "x", "PATH": "/bin"}, tmp_path / ".env")
    assert warnings == [
        "CODE2ASIN_MARKETPLAC is not a Code2ASIN setting and is ignored "
        "(did you mean CODE2ASIN_MARKETPLACE?)."
    ]
