"""compose.yaml agrees with the image, the CLI and .env.example (it cannot be run here: no registry)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from code2asin.cli import app
from code2asin.config import Settings

ROOT = Path(__file__).resolve().parents[2]
APP_ROLES = {"migrate", "api", "worker", "beat"}
HEALTH_CHECKED = {"postgres", "redis", "minio", "api", "worker", "beat"}


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    return loaded


def env_example_names() -> set[str]:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    return set(re.findall(r"^(CODE2ASIN_\w+)=", text, re.M))


def test_every_app_service_runs_a_real_code2asin_command_of_the_image() -> None:
    services = compose()["services"]
    assert set(services) >= APP_ROLES
    runner = CliRunner()
    for name in APP_ROLES:
        service = services[name]
        assert service["build"] == "." and service["env_file"] == ".env", name
        command = service["command"]
        result = runner.invoke(app, [*command[: 2 if command[0] == "db" else 1], "--help"])
        assert result.exit_code == 0, (name, command, result.output)
        options = [c.split("=")[0] for c in command if c.startswith("--")]
        for option in options:
            assert option in result.output, (name, option)
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["migrate"]["restart"] == "no"


def test_health_checks_and_start_order() -> None:
    services = compose()["services"]
    for name in HEALTH_CHECKED:
        assert services[name]["healthcheck"]["test"][0] == "CMD", name
    for role in ("api", "worker", "beat"):
        assert services[role]["healthcheck"]["test"] == ["CMD", "code2asin", "healthcheck", role]
        after = services[role]["depends_on"]
        assert after["migrate"]["condition"] == "service_completed_successfully"
        assert after["minio-setup"]["condition"] == "service_completed_successfully"
        assert after["redis"]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["minio-setup"]["depends_on"]["minio"]["condition"] == "service_healthy"
    containerfile = (ROOT / "Containerfile").read_text(encoding="utf-8")
    assert 'CMD ["code2asin", "healthcheck", "api"]' in containerfile
    assert (ROOT / "Dockerfile").resolve() == (ROOT / "Containerfile").resolve()


def test_workers_scale_and_state_lives_in_named_volumes() -> None:
    spec = compose()
    worker = spec["services"]["worker"]
    assert "container_name" not in worker and "ports" not in worker  # --scale worker=N
    assert int(str(worker["stop_grace_period"]).rstrip("s")) >= 30  # room to hand chunks back
    declared = set(spec["volumes"])
    for name, service in spec["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            assert source in declared, (name, volume)  # named, not a host path
    assert "postgres-data" in declared and "minio-data" in declared


def test_every_setting_compose_sets_is_a_real_setting_named_in_env_example() -> None:
    settings = {f"CODE2ASIN_{name.upper()}" for name in Settings.model_fields}
    documented = env_example_names()
    text = (ROOT / "compose.yaml").read_text(encoding="utf-8")
    used = set(re.findall(r"\bCODE2ASIN_\w+", text)) - {"CODE2ASIN_IMAGE"}  # the image tag, not a setting
    assert used, "compose.yaml sets no CODE2ASIN_* variable"
    assert used <= documented, sorted(used - documented)
    flat = {n for n in documented if n in settings}
    assert {"CODE2ASIN_DATABASE_URL", "CODE2ASIN_BROKER_URL", "CODE2ASIN_STORAGE_URL"} <= flat
    environment = dict(compose()["x-app"]["environment"])
    # the image's volume: .env's ./code2asin-data is a path on the host, meaningless inside a container
    assert environment.pop("CODE2ASIN_DATA_DIR") == "/data"
    assert "VOLUME /data" in (ROOT / "Containerfile").read_text(encoding="utf-8")
    for key, value in environment.items():
        assert value.startswith("${" + key + ":-"), key  # a value set in .env wins
