"""The OpenAPI document: valid OpenAPI 3.1, served as shipped, true to the app's routes and
to the intake limits of `bot/intake/limits.py`."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from jsonschema import Draft202012Validator
from schemathesis.specs.openapi.definitions import OPENAPI_31

from bot.api.openapi import DOCUMENT_PATH
from bot.app import create_app
from bot.cases.enums import CaseState, DecisionKind, EventKind
from bot.config import Settings
from bot.directory.enums import Role
from bot.intake import limits
from bot.tasks.enums import TaskStatus

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def load_document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DOCUMENT_PATH.read_text(encoding="utf-8"))
    return document


def app_without_database() -> web.Application:
    """The app as `serve --local` wires it; building it touches no database."""
    return create_app(
        Settings(database_url="sqlite+aiosqlite:///:memory:"), local=True, run_worker=False
    )


# --- valid OpenAPI 3.1 ---------------------------------------------------------------------


def _walk(node: Any, pointer: str = "#") -> Iterator[tuple[str, Any]]:
    """Every (JSON pointer, value) under `node`, `node` included."""
    yield pointer, node
    if isinstance(node, dict):
        for key, value in node.items():
            escaped = str(key).replace("~", "~0").replace("/", "~1")
            yield from _walk(value, f"{pointer}/{escaped}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{pointer}/{index}")


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"only local references are used: {ref}"
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def schema_objects(document: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Every Schema Object of the document that is not a plain `$ref`, with its pointer."""
    for name, schema in document["components"]["schemas"].items():
        yield f"#/components/schemas/{name}", schema
    for pointer, node in _walk(document["paths"], "#/paths"):
        if isinstance(node, dict) and isinstance(node.get("schema"), dict):
            yield f"{pointer}/schema", node["schema"]
    for kind in ("responses", "parameters"):
        for pointer, node in _walk(document["components"][kind], f"#/components/{kind}"):
            if isinstance(node, dict) and isinstance(node.get("schema"), dict):
                yield f"{pointer}/schema", node["schema"]


def test_document_is_valid_openapi_3_1() -> None:
    document = load_document()
    assert document["openapi"].startswith("3.1.")
    # the structure: the OpenAPI 3.1 meta-schema (schema.yaml of OAI, as schemathesis ships it)
    errors = sorted(Draft202012Validator(OPENAPI_31).iter_errors(document), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]
    # that meta-schema leaves Schema Objects alone: each is JSON Schema 2020-12 (OAS 3.1 dialect)
    meta = Draft202012Validator(Draft202012Validator.META_SCHEMA)
    checked = 0
    for pointer, schema in schema_objects(document):
        problems = [e.message for e in meta.iter_errors(schema)]
        assert not problems, f"{pointer}: {problems}"
        checked += 1
    assert checked > 40
    # every reference points at something
    refs = [(p, n["$ref"]) for p, n in _walk(document) if isinstance(n, dict) and "$ref" in n]
    assert refs
    for pointer, ref in refs:
        try:
            _resolve(document, ref)
        except KeyError:
            pytest.fail(f"{pointer}: $ref {ref} resolves to nothing")


def test_schemathesis_reads_every_operation() -> None:
    schema = schemathesis.openapi.from_path(DOCUMENT_PATH)
    loaded = [result.ok() for result in schema.get_all_operations()]
    assert sorted(op.label for op in loaded) == sorted(
        f"{method.upper()} {path}" for method, path in documented_operations(load_document())
    )


def test_a_broken_document_is_refused() -> None:
    """The validation above catches a typo in a Schema Object and a dangling reference."""
    document = load_document()
    document["components"]["schemas"]["Problem"]["properties"]["path"]["type"] = "strin"
    meta = Draft202012Validator(Draft202012Validator.META_SCHEMA)
    assert list(meta.iter_errors(document["components"]["schemas"]["Problem"]))
    with pytest.raises(KeyError):
        _resolve(document, "#/components/schemas/NoSuchSchema")
    del document["info"]
    assert list(Draft202012Validator(OPENAPI_31).iter_errors(document))


# --- the document and the app's routes ---------------------------------------------------


def documented_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    """(method, path template) of every operation in the document."""
    return {
        (method, path)
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def app_routes(app: web.Application) -> set[tuple[str, str]]:
    """(method, path template) of every route of the app."""
    found = set()
    for route in app.router.routes():
        resource = route.resource
        assert resource is not None
        found.add((route.method.lower(), resource.canonical))
    return found


def undocumented_routes(app: web.Application, document: dict[str, Any]) -> set[tuple[str, str]]:
    """Routes of the app the document does not describe. A HEAD route that aiohttp adds
    beside a GET (`add_get`) is described by that GET."""
    documented = documented_operations(document)
    return {
        (method, path)
        for method, path in app_routes(app)
        if (method, path) not in documented
        and not (method == "head" and ("get", path) in documented)
    }


def operations_without_route(
    app: web.Application, document: dict[str, Any]
) -> set[tuple[str, str]]:
    """Operations of the document the app does not serve."""
    return documented_operations(document) - app_routes(app)


def test_every_route_is_documented_and_every_operation_is_served() -> None:
    app = app_without_database()
    document = load_document()
    assert undocumented_routes(app, document) == set()
    assert operations_without_route(app, document) == set()
    assert documented_operations(document) == {
        ("post", "/api/messages"),
        ("post", "/api/dxa-answers"),
        ("get", "/api/cases"),
        ("get", "/api/cases/{case_id}"),
        ("get", "/reports/quality"),
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/metrics"),
        ("get", "/openapi.json"),
        ("get", "/privacy"),
        ("get", "/terms"),
    }


async def _nothing(_request: web.Request) -> web.Response:
    return web.Response()


def test_a_new_route_without_documentation_is_caught() -> None:
    app = app_without_database()
    app.router.add_get("/api/cases/{case_id}/letters", _nothing)
    app.router.add_delete("/api/cases/{case_id}", _nothing)
    assert undocumented_routes(app, load_document()) == {
        ("get", "/api/cases/{case_id}/letters"),
        ("head", "/api/cases/{case_id}/letters"),
        ("delete", "/api/cases/{case_id}"),
    }


def test_a_documented_operation_without_route_is_caught() -> None:
    document = load_document()
    document["paths"]["/api/cases/{case_id}"]["delete"] = {"responses": {}}
    document["paths"]["/api/tasks"] = {"get": {"responses": {}}}
    assert operations_without_route(app_without_database(), document) == {
        ("delete", "/api/cases/{case_id}"),
        ("get", "/api/tasks"),
    }


# --- the intake limits ---------------------------------------------------------------------

LIMIT_KEYWORDS = ("maxLength", "maxItems", "maximum", "x-max-bytes", "x-max-depth")

# where each limit of bot/intake/limits.py is written into the document
EXPECTED_LIMITS = {
    "#/paths/~1api~1dxa-answers/post/requestBody": ("x-max-bytes", "MAX_BODY_BYTES"),
    "#/components/schemas/Bundle": ("x-max-depth", "MAX_DEPTH"),
    "#/components/schemas/StoredIdentifier/properties/system": (
        "maxLength",
        "IDENTIFIER_SYSTEM_MAX",
    ),
    "#/components/schemas/StoredIdentifier/properties/value": ("maxLength", "IDENTIFIER_VALUE_MAX"),
    "#/components/schemas/FractureCoding/properties/code": ("maxLength", "CODE_MAX"),
    "#/components/schemas/FractureCoding/properties/display": ("maxLength", "TEXT_MAX"),
    "#/components/schemas/FractureConcept/properties/text": ("maxLength", "TEXT_MAX"),
    "#/components/schemas/Annotation/properties/text": ("maxLength", "TEXT_MAX"),
    "#/components/schemas/BodySite/properties/text": ("maxLength", "TEXT_MAX"),
    "#/components/schemas/BodySiteCoding/properties/display": ("maxLength", "TEXT_MAX"),
    "#/components/schemas/HumanName/properties/text": ("maxLength", "NAME_MAX"),
    "#/components/schemas/HumanName/properties/family": ("maxLength", "NAME_MAX"),
    "#/components/schemas/HumanName/properties/given/items": ("maxLength", "NAME_MAX"),
    "#/components/schemas/Organization/properties/name": ("maxLength", "NAME_MAX"),
    "#/components/schemas/DiagnosticReport/properties/conclusion": (
        "maxLength",
        "CONCLUSION_MAX",
    ),
}


def limit_constants() -> dict[str, int]:
    """The public integer constants of `bot.intake.limits`."""
    return {
        name: value
        for name, value in vars(limits).items()
        if name.isupper() and isinstance(value, int) and not isinstance(value, bool)
    }


def written_limits(document: dict[str, Any]) -> dict[str, tuple[str, str, Any]]:
    """pointer -> (keyword, constant name, number) of every node marked with `x-limit`."""
    found = {}
    for pointer, node in _walk(document):
        if isinstance(node, dict) and "x-limit" in node:
            keywords = [k for k in LIMIT_KEYWORDS if k in node]
            assert len(keywords) == 1, (
                f"{pointer}: one limit keyword beside x-limit, not {keywords}"
            )
            found[pointer] = (keywords[0], node["x-limit"], node[keywords[0]])
    return found


def test_limits_in_the_document_equal_the_constants() -> None:
    constants = limit_constants()
    written = written_limits(load_document())
    assert {p: (k, name) for p, (k, name, _) in written.items()} == EXPECTED_LIMITS
    for pointer, (keyword, name, number) in written.items():
        assert name in constants, f"{pointer}: x-limit {name} is not in bot/intake/limits.py"
        assert number == constants[name], (
            f"{pointer}: {keyword} is {number}, bot/intake/limits.py has {name} = {constants[name]}"
        )
    assert {name for _, name, _ in written.values()} == set(constants), (
        "every limit of bot/intake/limits.py is written into the document"
    )


def test_the_vocabularies_in_the_document_equal_the_enums() -> None:
    """Case states, decision kinds, task statuses, roles and event kinds are spelled in the
    document as the enums store them (a decision's kind is never `reassign`)."""
    schemas = load_document()["components"]["schemas"]
    assert schemas["CaseState"]["enum"] == list(CaseState)
    assert schemas["Decision"]["properties"]["kind"]["enum"] == [
        kind for kind in DecisionKind if kind != DecisionKind.REASSIGN
    ]
    assert schemas["Task"]["properties"]["status"]["enum"] == list(TaskStatus)
    assert schemas["Task"]["properties"]["assignee_role"]["enum"] == list(Role)
    assert schemas["CaseEvent"]["properties"]["kind"]["enum"] == list(EventKind)


def test_a_limit_tuned_in_code_but_not_in_the_document_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(limits, "CODE_MAX", limits.CODE_MAX + 1)
    with pytest.raises(AssertionError, match="CODE_MAX"):
        test_limits_in_the_document_equal_the_constants()


# --- served -----------------------------------------------------------------------------


async def test_the_app_serves_the_shipped_document(sqlite_template: Path, tmp_path: Path) -> None:
    database = tmp_path / "served.db"
    shutil.copy(sqlite_template, database)
    app = create_app(
        Settings(database_url=f"sqlite+aiosqlite:///{database}"), local=True, run_worker=False
    )
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/openapi.json")
        assert response.status == 200
        assert response.content_type == "application/json"
        assert await response.read() == DOCUMENT_PATH.read_bytes()
        head = await client.head("/openapi.json")
        assert head.status == 200
