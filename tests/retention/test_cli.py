"""`frakturkedjan purge` and `frakturkedjan audit export` from the command line."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot import cli
from tests.helpers import FIXTURES


def test_purge_and_export(
    db_url: str, factory: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("PATIENT_KEY_SECRET", "cli-secret")
    assert cli.main(["ingest", str(FIXTURES / "01_osteoporosis_named.json")]) == 0
    capsys.readouterr()
    assert cli.main(["purge"]) == 0
    assert "purged 0 cases" in capsys.readouterr().out  # nothing has ended yet
    assert cli.main(["audit", "export", "19520314-2384"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["action"] for r in rows] == ["intake.new"]
    assert "19520314" not in json.dumps(rows)
    assert cli.main(["audit", "export", "12345"]) == 2
    assert cli.main(["audit", "export", "197001011233"]) == 0
    assert capsys.readouterr().out == ""
