"""/openapi.json is generated from the routes and agrees with what they validate."""

from __future__ import annotations

from typing import Any

import pytest

import app as application  # registers every route, so REGISTRY is complete when tests are collected
from chalicelib.api.http import REGISTRY
from chalicelib.domain.ids import new_id
from tests.conftest import LocalStack
from tests.functional.conftest import Actor, Api, Pump, invited_consultant, new_agency, new_client, new_staff

pytestmark = pytest.mark.functional


@pytest.fixture(scope="module")
def document(api: Api) -> dict[str, Any]:
    reply = api.get("/openapi.json")
    assert reply.status == 200
    return dict(reply.body)


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    from openapi_spec_validator import validate

    validate(document)
    assert document["openapi"] == "3.1.0"


def test_every_route_is_documented(document: dict[str, Any]) -> None:
    routes = {(method, path) for path, methods in application.app.routes.items() for method in methods if method != "OPTIONS"}
    documented = {(method.upper(), path) for path, methods in document["paths"].items() for method in methods}
    assert routes == documented


def test_constraints_set_beside_a_validator_are_documented(document: dict[str, Any]) -> None:
    """A pattern placed before a BeforeValidator was left out of the schema (found by the API fuzzing)."""
    for model in ("AddressIn", "OrganisationIn"):
        assert document["components"]["schemas"][model]["properties"]["country"]["pattern"] == "^[A-Za-z]{2}$"


def test_protected_operations_declare_the_bearer_scheme(document: dict[str, Any]) -> None:
    for op in REGISTRY:
        operation = document["paths"][op.path][op.method.lower()]
        assert (operation["security"] == [{"bearerAuth": []}]) is (op.roles is not None), op.path


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


@pytest.fixture(scope="module")
def callers(api: Api, pump: Pump, local_aws: LocalStack) -> dict[str, Actor]:
    agency = new_agency(api, pump)
    return {
        "staff": new_staff(api, local_aws),
        "agency_admin": agency,
        "consultant": invited_consultant(api, pump, agency),
        "client": new_client(api, pump),
    }


@pytest.mark.parametrize("op", [op for op in REGISTRY if op.request is not None], ids=lambda op: f"{op.method} {op.path}")
def test_documented_required_fields_are_exactly_what_the_route_demands(
    api: Api, document: dict[str, Any], callers: dict[str, Actor], op: Any
) -> None:
    operation = document["paths"][op.path][op.method.lower()]
    schema = _resolve(document, operation["requestBody"]["content"]["application/json"]["schema"])
    token = callers[operation["x-roles"][0]].token if op.roles is not None else None
    path = op.path
    for name in op.path_params:
        path = path.replace("{" + name + "}", new_id())
    reply = api.request(op.method, path, json_body={}, token=token)
    required = set(schema.get("required", []))
    if required:
        assert reply.status == 422, reply.body
        assert reply.error_fields == required
    else:
        assert reply.status != 422, reply.body  # nothing is required, so an empty object passes validation
    unknown = api.request(op.method, path, json_body={"surely_not_a_field": 1}, token=token)
    if schema.get("additionalProperties") is False:
        assert "surely_not_a_field" in unknown.error_fields
    else:  # a format whose objects may carry fields of their own (JSON Resume): kept, not refused
        assert "surely_not_a_field" not in unknown.error_fields
    assert set(operation["requestBody"]["content"]) == {"application/json", "application/x-www-form-urlencoded"}
