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
