"""Layering (STYLE.md): the Bot Framework SDK stays inside `bot/teams/` and `dialogs/`, so
that moving to another Teams SDK changes one folder. Checked on each file's parsed imports."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("bot", "dialogs", "cards")
SDK = ("botbuilder", "botframework")
SDK_ALLOWED = ("bot/teams/", "dialogs/")
# domain packages may not reach the SDK through the Teams layer either
DOMAIN = ("bot/cases/", "bot/tasks/", "bot/intake/", "bot/audit/", "bot/outbox/",
          "bot/directory/", "cards/")
TEAMS_LAYER = ("bot.teams", "dialogs", "bot.app")


def python_files() -> list[Path]:
    files = [p for top in SCANNED for p in (ROOT / top).rglob("*.py")
             if "__pycache__" not in p.parts]
    return sorted(files)


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _package(path: Path, root: Path) -> list[str]:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return parts if path.name == "__init__.py" else parts[:-1]


def imported_modules(path: Path, root: Path = ROOT) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) for every import in the file, nested ones included,
    relative imports resolved, and `importlib.import_module` / `__import__` with a literal."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = _package(path, root)
                base = package[: len(package) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            yield node.lineno, module
            for alias in node.names:  # `from bot import teams`
                yield node.lineno, f"{module}.{alias.name}"
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if (name in ("import_module", "__import__") and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)):
                yield node.lineno, node.args[0].value


def _is_under(module: str, roots: tuple[str, ...]) -> bool:
    return any(module == root or module.startswith(root + ".") for root in roots)


def test_there_is_something_to_check() -> None:
    files = {relative(p) for p in python_files()}
    assert "bot/cases/service.py" in files
    assert "cards/render.py" in files
    assert any(f.startswith("bot/teams/") for f in files)


def test_the_check_sees_the_sdk_where_it_is_used() -> None:
    """Guards the test itself: the Teams layer does import the SDK, and the parser sees it."""
    seen = {
        relative(path)
        for path in python_files()
        if relative(path).startswith("bot/teams/")
        and any(_is_under(m, SDK) for _, m in imported_modules(path))
    }
    assert "bot/teams/adapter.py" in seen


def test_import_parser_resolves_every_form(tmp_path: Path) -> None:
    probe = tmp_path / "bot" / "cases" / "probe.py"
    probe.parent.mkdir(parents=True)
    probe.write_text(
        "import os\n"
        "import botbuilder.core as core\n"
        "from botframework.connector import ConnectorClient\n"
        "from ..teams import adapter\n"
        "from . import views\n"
        "def later():\n"
        "    import importlib\n"
        "    importlib.import_module('botbuilder.schema')\n"
        "    __import__('botframework')\n",
        encoding="utf-8",
    )
    assert [m for _, m in imported_modules(probe, root=tmp_path)] == [
        "os", "botbuilder.core", "botframework.connector",
        "botframework.connector.ConnectorClient", "bot.teams", "bot.teams.adapter",
        "bot.cases", "bot.cases.views", "importlib", "botbuilder.schema", "botframework",
    ]


@pytest.mark.parametrize(
    "path", [p for p in python_files() if not relative(p).startswith(SDK_ALLOWED)], ids=relative
)
def test_no_sdk_import_outside_the_teams_layer(path: Path) -> None:
    offending = [f"{relative(path)}:{line}: {module}"
                 for line, module in imported_modules(path) if _is_under(module, SDK)]
    assert offending == [], "botbuilder/botframework belong in bot/teams/ or dialogs/ only"


@pytest.mark.parametrize(
    "path", [p for p in python_files() if relative(p).startswith(DOMAIN)], ids=relative
)
def test_domain_does_not_reach_the_sdk_through_the_teams_layer(path: Path) -> None:
    offending = [f"{relative(path)}:{line}: {module}"
                 for line, module in imported_modules(path) if _is_under(module, TEAMS_LAYER)]
    assert offending == [], "domain packages and cards call no Teams code"
