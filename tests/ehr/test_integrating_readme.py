"""The README's "Integrating an EHR" section, followed word for word: each block
marked `<!-- integrating: file NAME -->` is written to NAME, each marked
`<!-- integrating: run STEP -->` runs in bash, in one folder, against a live server
(real PostgreSQL, Redis, Orthanc). Only `$BASE` is set by the test: the live server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from ordering.models import CdsCard, EhrClient
from tests.world import FlowPacs

ROOT = Path(__file__).resolve().parent.parent.parent
SECTION_TITLE = "## Integrating an EHR"
MARKED_BLOCK = re.compile(
    r"<!-- integrating: (?P<kind>file|run) (?P<name>[\w.-]+) -->\n```\w*\n(?P<body>.*?)```",
    re.DOTALL,
)


def readme_section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index(SECTION_TITLE)
    end = readme.index("\n## ", start + 1)
    return readme[start:end]


def marked_blocks() -> list[tuple[str, str, str]]:
    return [(m["kind"], m["name"], m["body"]) for m in MARKED_BLOCK.finditer(readme_section())]


def test_the_section_has_every_step_an_integrator_needs() -> None:
    steps = [(kind, name) for kind, name, _ in marked_blocks()]
    assert steps == [
        ("file", "make_keys.py"),
        ("run", "register"),
        ("run", "discovery"),
        ("file", "sign_jwt.py"),
        ("file", "order-select.json"),
        ("run", "order-select"),
        ("run", "rest"),
    ]
    # Every marker is followed by its block: none silently ignored.
    assert readme_section().count("<!-- integrating:") == len(steps)


def _test_database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return (
        f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )


def _run(script: str, folder: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"{script}\nexit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.django_db(transaction=True)
def test_an_integrator_following_the_readme_gets_a_first_card_and_a_rest_answer(
    live_server: Any, world: FlowPacs, tmp_path: Path
) -> None:
    # manage.py as the README runs it: from the app's folder, with the project importable.
    (tmp_path / "manage.py").symlink_to(ROOT / "manage.py")
    env = {
        **os.environ,
        "BASE": live_server.url,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
        # The commands write where the live server reads: the test database.
        "DATABASE_URL": _test_database_url(),
    }
    out: dict[str, str] = {}
    for kind, name, body in marked_blocks():
        if kind == "file":
            (tmp_path / name).write_text(body, encoding="utf-8")
        else:
            out[name] = _run(body, tmp_path, env)

    assert "https://dpi.hopital-exemple.fr" in out["register"]
    client = EhrClient.objects.get(issuer="https://dpi.hopital-exemple.fr")
    assert client.user.username == "dpi-hopital-exemple"
    assert not (tmp_path / "ehr-jwks.json").read_text().count('"d"')

    services = {s["id"] for s in json.loads(out["discovery"])["services"]}
    assert "imaging-order-select" in services

    answer = json.loads(out["order-select"])
    [card] = answer["cards"]
    assert card["summary"] and card["indicator"] in {"info", "warning", "critical"}
    # The card the README shows is the one an integrator gets.
    assert f"`{card['summary']}`, indicator `{card['indicator']}`" in readme_section()
    assert CdsCard.objects.get(pk=card["uuid"]).consultation.prescriber == client.user
    assert answer["systemActions"][0]["resource"]["id"] == "example-order"

    indications = json.loads(out["rest"])
    assert indications and all("code" in i for i in indications), indications
