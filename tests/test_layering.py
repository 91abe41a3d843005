"""Layering: every package of `bot/` (and `cards`, `dialogs`) has its place in one order,
bottom to top, and imports only from its own package or below; no import cycles, between
packages or modules. The Bot Framework SDK stays inside `bot/teams/` and `dialogs/`
(STYLE.md), so that moving to another Teams SDK changes one folder.

Checked on each file's parsed imports: nested (function-level) imports and imports under
`TYPE_CHECKING` count like any other.

Both Teams SDKs (botbuilder, the Microsoft 365 Agents SDK) stay inside the Teams layer;
inside it, the seam (`bot/teams/runtime.py` and the modules it shares) imports neither,
the agents runtime (`bot/teams/agents/`, `dialogs/agents_commands.py`) never botbuilder,
and the botbuilder runtime never the Agents SDK.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("bot", "dialogs", "cards")
BOTBUILDER = ("botbuilder", "botframework", "msrest")
AGENTS_SDK = ("microsoft_agents",)
SDK = (*BOTBUILDER, *AGENTS_SDK)
SDK_ALLOWED = ("bot/teams/", "dialogs/")
TEAMS_LAYER = ("bot.teams", "dialogs", "bot.worker_process", "bot.app")  # and wiring
# the Teams layer's modules that import no SDK: the seam and what both runtimes share
SDK_FREE = (
    "bot/teams/__init__.py",
    "bot/teams/actions.py",
    "bot/teams/card_actions.py",
    "bot/teams/connector.py",
    "bot/teams/inbound.py",
    "bot/teams/references.py",
    "bot/teams/registration.py",
    "bot/teams/runtime.py",
    "bot/teams/texts.py",
)
# each runtime's own modules
AGENTS_RUNTIME = ("bot/teams/agents/", "dialogs/agents_commands.py")
BOTBUILDER_RUNTIME = (
    "bot/teams/adapter.py",
    "bot/teams/app_credentials.py",
    "bot/teams/botbuilder_endpoint.py",
    "bot/teams/handler.py",
    "bot/teams/invoke.py",
    "bot/teams/openid.py",
    "bot/teams/sdk_clients.py",
    "bot/teams/storage.py",
    "dialogs/main.py",
)

# Bottom to top. A package may import from itself and from anything before it.
LAYERS = (
    "bot",  # bot/__init__.py: nothing
    "bot.core",  # identifiers, measurements, the working-day calendar, texts, Refusal
    "cards",  # card templates and their renderer
    "bot.logs",
    "bot.metrics",
    "bot.sqlite_driver",  # SQLAlchemy's aiosqlite dialect, one thread hop per statement
    "bot.db",
    "bot.preflight",  # operator checks (settings are read through a protocol)
    "bot.audit",
    "bot.directory",  # units, staff, roles, the Actor
    "bot.botstate",
    "bot.clicks",  # clicks answered once: their keys and answers
    "bot.intake",  # FHIR parser, limits, the rejected-message log
    "bot.config",  # Settings: its body limit is the intake's
    "bot.state",
    "bot.outbox",  # delivery; no domain card (the notice card is passed in by bot.app)
    "bot.cases",
    "bot.tasks",
    "bot.visits",
    "bot.letters",
    "bot.messaging",  # what gets said, to whom
    "bot.jobs",
    "bot.retention",
    "bot.flows",  # one module per user action; the verb table
    "bot.api",
    "bot.reports",  # the report page sits beside the API (its bearer tokens)
    "bot.legal",  # the public /privacy and /terms pages (settings and retention rules)
    "dialogs",
    "bot.teams",
    "bot.models",
    "bot.migrations",
    "bot.migrate",
    "bot.manifest",
    "bot.demo",  # a sample answer made unique, for the local demo
    "bot.worker_process",  # `frakturkedjan worker`: the outbox worker on its own
    "bot.app",
    "bot.cli",
)


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


def module_name(path: Path, root: Path = ROOT) -> str:
    """`bot/flows/decide.py` -> `bot.flows.decide`; a package's `__init__.py` -> the package."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str | None:
    """The entry of `LAYERS` a module of ours belongs to (the longest that names it or a
    package holding it), None for anything else (the standard library, third parties)."""
    found = [layer for layer in LAYERS if _is_under(module, (layer,))]
    return max(found, key=len) if found else None


def upward_imports(paths: list[Path], root: Path = ROOT) -> list[str]:
    """Every import of `paths` that goes from a layer to one above it, as
    "file:line: from -> to (module)"."""
    order = {layer: rank for rank, layer in enumerate(LAYERS)}
    found = []
    for path in paths:
        own = layer_of(module_name(path, root))
        assert own is not None, f"{relative(path)} is in no layer: add its package to LAYERS"
        for line, module in imported_modules(path, root):
            target = layer_of(module)
            if target is not None and order[target] > order[own]:
                found.append(f"{path.relative_to(root).as_posix()}:{line}: {own} -> {target} "
                             f"({module})")
    return found


def module_graph(paths: list[Path], root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the modules of ours it imports (a name imported from a package counts
    as the module it names, else as the package)."""
    names = {module_name(path, root): path for path in paths}
    graph: dict[str, set[str]] = {name: set() for name in names}
    for name, path in names.items():
        for _, module in imported_modules(path, root):
            parts = module.split(".")
            while parts and ".".join(parts) not in names:
                parts.pop()
            if parts and ".".join(parts) != name:
                graph[name].add(".".join(parts))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The module graph folded onto `LAYERS` entries (imports within one left out)."""
    folded: dict[str, set[str]] = {}
    for module, targets in graph.items():
        own = layer_of(module)
        assert own is not None, module
        folded.setdefault(own, set())
        for target in targets:
            layer = layer_of(target)
            if layer is not None and layer != own:
                folded[own].add(layer)
    return folded


# -- the check sees what it checks -------------------------------------------------------


def test_there_is_something_to_check() -> None:
    files = {relative(p) for p in python_files()}
    assert "bot/cases/service.py" in files
    assert "bot/flows/decide.py" in files
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
    assert "bot/teams/agents/endpoint.py" in seen


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


# -- the order of the packages -----------------------------------------------------------


def test_every_package_has_its_place_in_the_order() -> None:
    """Each package of bot/ (and each top-level module), cards and dialogs is named in
    `LAYERS` once; nothing named there is missing from the tree."""
    assert len(set(LAYERS)) == len(LAYERS)
    tops = {"cards", "dialogs", "bot"}
    tops |= {f"bot.{p.name}" for p in (ROOT / "bot").iterdir()
             if p.is_dir() and any(p.rglob("*.py")) and p.name != "__pycache__"}
    tops |= {f"bot.{p.stem}" for p in (ROOT / "bot").glob("*.py") if p.stem != "__init__"}
    assert set(LAYERS) == tops
    for path in python_files():
        assert layer_of(module_name(path)) is not None, relative(path)


def test_the_layers_are_the_house_order() -> None:
    """Spelled out as a few checkpoints, so that a reshuffle is a visible change here."""
    order = {layer: rank for rank, layer in enumerate(LAYERS)}
    chain = ["bot.core", "bot.db", "bot.audit", "bot.directory", "bot.intake", "bot.outbox",
             "bot.cases", "bot.tasks", "bot.visits", "bot.messaging", "bot.jobs", "bot.flows",
             "bot.api", "dialogs", "bot.teams", "bot.app", "bot.cli"]
    assert [order[layer] for layer in chain] == sorted(order[layer] for layer in chain)


def test_no_import_goes_up() -> None:
    assert upward_imports(python_files()) == []


def test_no_import_cycle_between_packages_or_modules() -> None:
    graph = module_graph(python_files())
    assert {"bot.cases.service", "bot.messaging.notify"} <= graph["bot.flows.decide"]
    assert cycles(graph) == []
    assert cycles(package_graph(graph)) == []


def test_the_outbox_renders_no_domain_card() -> None:
    imports = {m for p in (ROOT / "bot" / "outbox").rglob("*.py")
               for _, m in imported_modules(p)}
    assert not [m for m in imports if _is_under(m, ("bot.cases", "bot.messaging", "bot.flows"))]


def test_an_upward_import_is_caught(tmp_path: Path) -> None:
    """Guards the test itself: the domain importing a flow, even inside a function."""
    probe = tmp_path / "bot" / "cases" / "probe.py"
    probe.parent.mkdir(parents=True)
    probe.write_text("def later():\n    from bot.flows import decide\n", encoding="utf-8")
    assert upward_imports([probe], root=tmp_path) == [
        "bot/cases/probe.py:2: bot.cases -> bot.flows (bot.flows)",
        "bot/cases/probe.py:2: bot.cases -> bot.flows (bot.flows.decide)",
    ]


def test_a_cycle_is_caught(tmp_path: Path) -> None:
    """Guards the test itself: two modules importing each other, one of them lazily."""
    package = tmp_path / "bot" / "tasks"
    package.mkdir(parents=True)
    (package / "a.py").write_text("from bot.tasks import b\n", encoding="utf-8")
    (package / "b.py").write_text("def later():\n    import bot.tasks.a\n", encoding="utf-8")
    graph = module_graph(sorted(package.glob("*.py")), root=tmp_path)
    assert cycles(graph) == [["bot.tasks.a", "bot.tasks.b"]]
    assert cycles({"bot.cases": {"bot.tasks"}, "bot.tasks": {"bot.cases"}}) == [
        ["bot.cases", "bot.tasks"]
    ]


# -- the SDK boundary ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", [p for p in python_files() if not relative(p).startswith(SDK_ALLOWED)], ids=relative
)
def test_no_sdk_import_outside_the_teams_layer(path: Path) -> None:
    offending = [f"{relative(path)}:{line}: {module}"
                 for line, module in imported_modules(path) if _is_under(module, SDK)]
    assert offending == [], "the Teams SDKs belong in bot/teams/ or dialogs/ only"


def test_every_module_of_the_teams_layer_belongs_to_the_seam_or_one_runtime() -> None:
    """A new module in bot/teams/ is placed in one of the lists above, so that the checks
    below cover it."""
    teams = {relative(p) for p in python_files() if relative(p).startswith("bot/teams/")}
    runtimes = (*AGENTS_RUNTIME, *BOTBUILDER_RUNTIME)
    placed = {f for f in teams if f in SDK_FREE or f.startswith(runtimes)}
    assert sorted(teams - placed) == []
    assert set(SDK_FREE) <= teams


@pytest.mark.parametrize("path", [ROOT / f for f in SDK_FREE], ids=str)
def test_the_seam_imports_no_sdk(path: Path) -> None:
    offending = [f"{relative(path)}:{line}: {module}"
                 for line, module in imported_modules(path) if _is_under(module, SDK)]
    assert offending == [], "the seam and what both runtimes share import no Teams SDK"


@pytest.mark.parametrize(
    ("path", "foreign"),
    [(p, BOTBUILDER) for p in python_files() if relative(p).startswith(AGENTS_RUNTIME)]
    + [(p, AGENTS_SDK) for p in python_files() if relative(p).startswith(BOTBUILDER_RUNTIME)],
    ids=lambda v: relative(v) if isinstance(v, Path) else "",
)
def test_a_runtime_imports_neither_the_other_sdk_nor_the_other_runtime(
    path: Path, foreign: tuple[str, ...]
) -> None:
    other = [m.replace("/", ".").removesuffix(".py").rstrip(".")
             for m in (BOTBUILDER_RUNTIME if foreign == BOTBUILDER else AGENTS_RUNTIME)]
    offending = [f"{relative(path)}:{line}: {module}"
                 for line, module in imported_modules(path)
                 if _is_under(module, foreign) or _is_under(module, tuple(other))]
    assert offending == []


@pytest.mark.parametrize(
    "path",
    [p for p in python_files()
     if layer_of(module_name(p)) not in (None, *TEAMS_LAYER, "bot.cli")],
    ids=relative,
)
def test_nothing_below_the_teams_layer_reaches_the_sdk_through_it(path: Path) -> None:
    offending = [f"{relative(path)}:{line}: {module}"
                 for line, module in imported_modules(path) if _is_under(module, TEAMS_LAYER)]
    assert offending == [], "domain packages, flows and cards call no Teams code"
