from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from imaging_cds.env import env_bool, env_int, parse_database_url, parse_redis_url

ROOT = Path(__file__).resolve().parent.parent


def start_django(**env: str) -> subprocess.CompletedProcess[str]:
    """Start Django in a fresh process with exactly these overrides."""
    base = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "DEBUG", "SECRET_KEY", "REDIS_URL"}
    }
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); print('started')"],
        env={**base, "DJANGO_SETTINGS_MODULE": "imaging_cds.settings", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_it_starts_with_no_variable_at_all(tmp_path: Path) -> None:
    result = start_django(VAR_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout


def test_a_bad_database_url_stops_start_up_naming_the_variable() -> None:
    result = start_django(DATABASE_URL="mysql-ish://nowhere")
    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr


def test_a_non_boolean_debug_stops_start_up_naming_the_variable() -> None:
    result = start_django(DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in result.stderr


def test_debug_off_without_a_secret_key_stops_start_up() -> None:
    result = start_django(DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_a_bad_redis_url_stops_start_up_naming_the_variable() -> None:
    result = start_django(REDIS_URL="localhost:6379")
    assert result.returncode != 0
    assert "REDIS_URL" in result.stderr


def test_env_bool_reads_the_usual_spellings(monkeypatch: pytest.MonkeyPatch) -> None:
    for text, expected in [("yes", True), ("ON", True), ("0", False), ("False", False)]:
        monkeypatch.setenv("SOME_FLAG", text)
        assert env_bool("SOME_FLAG", not expected) is expected
    monkeypatch.delenv("SOME_FLAG")
    assert env_bool("SOME_FLAG", True) is True


def test_env_int_rejects_words_and_values_below_the_minimum(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOME_PORT", "eleven")
    with pytest.raises(ImproperlyConfigured, match="SOME_PORT='eleven' is not a whole number"):
        env_int("SOME_PORT", 1)
    monkeypatch.setenv("SOME_PORT", "0")
    with pytest.raises(ImproperlyConfigured, match="below the minimum"):
        env_int("SOME_PORT", 1, minimum=1)


def test_database_urls_are_parsed_for_postgres_and_sqlite(tmp_path: Path) -> None:
    pg = parse_database_url("DATABASE_URL", "postgres://u:p%40ss@db.local:6543/cds", tmp_path)
    assert pg["ENGINE"] == "django.db.backends.postgresql"
    assert (pg["NAME"], pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"]) == (
        "cds",
        "u",
        "p@ss",
        "db.local",
        "6543",
    )
    lite = parse_database_url("DATABASE_URL", "sqlite:////tmp/x.sqlite3", tmp_path)
    assert lite == {"ENGINE": "django.db.backends.sqlite3", "NAME": "/tmp/x.sqlite3"}
    with pytest.raises(ImproperlyConfigured, match="needs a database name"):
        parse_database_url("DATABASE_URL", "postgres://host:5432/", tmp_path)
    with pytest.raises(ImproperlyConfigured, match="port is not a number"):
        parse_database_url("DATABASE_URL", "postgres://host:port/db", tmp_path)


def test_redis_urls_need_a_scheme() -> None:
    assert parse_redis_url("REDIS_URL", "redis://127.0.0.1:6379/0").url.startswith("redis://")
    with pytest.raises(ImproperlyConfigured, match="REDIS_URL"):
        parse_redis_url("REDIS_URL", "http://127.0.0.1:6379")
