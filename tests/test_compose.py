"""Docker does not run on these machines: read the compose file instead and check it
against what the settings read."""

from __future__ import annotations

from pathlib import Path

import yaml

import imaging_cds.settings  # noqa: F401  (fills the registry of variables)
from imaging_cds.env import KNOWN

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
# Variables read by the images themselves, not by our settings.
IMAGE_VARIABLES = {"POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD", "ORTHANC__NAME"}


def _environment(service: dict[str, object]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    assert isinstance(env, dict)
    return {key: str(value) for key, value in env.items()}


def test_every_variable_the_compose_file_sets_is_one_the_settings_read() -> None:
    for name, service in COMPOSE["services"].items():
        for variable in _environment(service):
            if variable in IMAGE_VARIABLES:
                continue
            assert variable in KNOWN, f"{name} sets {variable}, which the settings never read"


def test_every_service_the_settings_need_is_in_the_compose_file() -> None:
    services = COMPOSE["services"]
    assert {"web", "worker", "beat", "postgres", "redis", "orthanc"} <= set(services)
    web = _environment(services["web"])
    assert web["DATABASE_URL"].startswith("postgres://")
    assert "@postgres:" in web["DATABASE_URL"]
    assert web["REDIS_URL"].startswith("redis://redis:")
    assert web["PACS_HOST"] == "orthanc"
    assert web["DEBUG"] == "false" and web["SECRET_KEY"]
    assert "gunicorn" in " ".join(services["web"]["command"])
    assert "worker" in services["worker"]["command"]
    assert "beat" in services["beat"]["command"]
    for name in ("worker", "beat"):
        assert _environment(services[name])["REDIS_URL"] == web["REDIS_URL"]


def test_the_readme_documents_every_variable() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in KNOWN if f"`{name}`" not in readme]
    assert not missing, f"README lacks: {missing}"
