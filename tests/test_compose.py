"""Docker does not run on these machines: read the compose file instead and check it
against what the settings read."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from celery.app.utils import find_app
from django.conf import settings
from django.urls import resolve

import imaging_cds.settings  # noqa: F401  (fills the registry of variables)
from imaging_cds.celery import app as celery_app
from imaging_cds.env import KNOWN
from imaging_cds.views import healthz

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
COMPOSE = yaml.safe_load(COMPOSE_TEXT)
ENV_EXAMPLE = (ROOT / ".env.example").read_text()
# Variables read by the images themselves, not by our settings.
IMAGE_VARIABLES = {"POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD"}
SECRETS = {"SECRET_KEY", "PSEUDONYM_KEY", "POSTGRES_PASSWORD"}
APP_SERVICES = ("migrate", "web", "worker", "beat")
# A value compose takes from .env: `${NAME}`, `${NAME:?message}`...
REFERENCE = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?:[:?-][^}]*)?\}")


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
    assert web["DEBUG"] == "false"
    assert "gunicorn" in " ".join(services["web"]["command"])
    assert "worker" in services["worker"]["command"]
    assert "beat" in services["beat"]["command"]
    for name in ("worker", "beat"):
        assert _environment(services[name])["REDIS_URL"] == web["REDIS_URL"]


def test_the_readme_documents_every_variable() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in KNOWN if f"`{name}`" not in readme]
    assert not missing, f"README lacks: {missing}"


def _env_example() -> dict[str, str]:
    pairs = [line.split("=", 1) for line in ENV_EXAMPLE.splitlines() if "=" in line]
    return {
        name.strip(): value.strip() for name, value in pairs if not name.lstrip().startswith("#")
    }


def _command(service: str) -> list[str]:
    command = COMPOSE["services"][service]["command"]
    assert isinstance(command, list), f"{service}: write the command as a list"
    return [str(part) for part in command]


def _healthcheck(service: str) -> str:
    check = COMPOSE["services"][service].get("healthcheck")
    assert check and not check.get("disable"), f"{service} has no healthcheck"
    test = check["test"]
    return " ".join(test) if isinstance(test, list) else str(test)


def test_every_long_running_service_has_a_healthcheck() -> None:
    for name, service in COMPOSE["services"].items():
        if name == "migrate":
            # A one-shot: its health is having exited 0, which web and worker wait for.
            assert service["restart"] == "no"
            continue
        _healthcheck(name)
    assert "/healthz" in _healthcheck("web")
    assert "pg_isready" in _healthcheck("postgres")
    assert "redis-cli ping" in _healthcheck("redis")
    assert ":8042/system" in _healthcheck("orthanc")
    assert "inspect ping" in _healthcheck("worker")


def test_migrations_run_once_before_web_and_worker_start() -> None:
    services = COMPOSE["services"]
    assert _command("migrate")[-3:] == ["manage.py", "migrate", "--noinput"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("web", "worker"):
        depends: dict[str, Any] = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
    for name, service in services.items():
        for other in service.get("depends_on", {}):
            assert other in services, f"{name} depends on unknown {other}"


def test_no_secret_is_written_in_the_compose_file() -> None:
    services = COMPOSE["services"]
    for name, service in services.items():
        for variable, value in _environment(service).items():
            if variable in SECRETS or variable.endswith(("PASSWORD", "_KEY")):
                assert REFERENCE.fullmatch(value), f"{name} writes {variable} inline"
    for name in APP_SERVICES:
        assert services[name]["env_file"] == [".env"], name
        assert "SECRET_KEY" not in _environment(services[name])
        # The database password inside the URL comes from .env too.
        url = _environment(services[name])["DATABASE_URL"]
        password = url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
        assert REFERENCE.fullmatch(password) and "POSTGRES_PASSWORD" in password, name
    assert "change-me" not in COMPOSE_TEXT


def test_the_env_example_documents_every_secret_and_holds_none() -> None:
    example = _env_example()
    referenced = {m["name"] for m in REFERENCE.finditer(COMPOSE_TEXT)}
    assert referenced | {"SECRET_KEY", "PSEUDONYM_KEY"} <= set(example)
    for name, value in example.items():
        assert name in KNOWN or name in IMAGE_VARIABLES, f".env.example sets unknown {name}"
        assert value == "", f".env.example holds a value for {name}"
        # Each variable is explained by the comment line just above it.
        lines = ENV_EXAMPLE.splitlines()
        assert lines[lines.index(f"{name}=") - 1].startswith("#"), f"{name} is not explained"
    gitignored = (ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in gitignored


def test_the_compose_commands_name_what_the_settings_name() -> None:
    wsgi_module, wsgi_attr = settings.WSGI_APPLICATION.rsplit(".", 1)
    gunicorn_app = f"{wsgi_module}:{wsgi_attr}"
    assert _command("web")[:2] == ["gunicorn", gunicorn_app]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f'CMD ["gunicorn", "{gunicorn_app}"' in dockerfile
    for name in ("worker", "beat"):
        command = _command(name)
        app_name = command[command.index("-A") + 1]
        # What `celery -A <name>` loads is the project's Celery app.
        assert find_app(app_name) is celery_app, name
        assert f"-A {app_name}" in _healthcheck("worker")
    assert resolve("/healthz").func is healthz
    web = _environment(COMPOSE["services"]["web"])
    # The healthcheck calls http://127.0.0.1:8000 from inside the container.
    assert "127.0.0.1" in web["ALLOWED_HOSTS"].split(",")
    assert web["SECURE_SSL_REDIRECT"] == "false"
    assert "0.0.0.0:8000" in _command("web") and "127.0.0.1:8000/healthz" in _healthcheck("web")


def test_orthanc_is_configured_for_the_apps_ae_titles() -> None:
    orthanc = COMPOSE["services"]["orthanc"]
    web = _environment(COMPOSE["services"]["web"])
    [config_file] = [v for v in orthanc["volumes"] if v.endswith(":/etc/orthanc/orthanc.json:ro")]
    config = json.loads((ROOT / config_file.split(":")[0]).read_text())
    assert orthanc["command"] == ["/etc/orthanc/orthanc.json"]
    assert web["PACS_HOST"] == "orthanc"
    assert config["DicomAet"] == web["PACS_CALLED_AET"]
    assert config["DicomPort"] == int(web["PACS_PORT"])
    assert config["DicomCheckCalledAet"] is True
    allowed = [m for m in config["DicomModalities"].values() if m["AllowFind"]]
    assert [m["AET"] for m in allowed] == [web["PACS_CALLING_AET"]]
    assert config["DicomAlwaysAllowFind"] is False
    assert config["DicomWeb"]["Enable"] is True
    assert config["Plugins"] == ["/usr/share/orthanc/plugins"]
