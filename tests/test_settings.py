from __future__ import annotations

from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from code2asin.config import Settings

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
    with pytest.raises(ValueError, match="Unknown marketplace 'XX'"):
        Settings()
    monkeypatch.setenv("CODE2ASIN_CREATORS_STORES", "")
    assert Settings().creators.stores == {}
